"""Small statistics helpers for reported metrics: standard errors, Student-t confidence intervals
and Welch's t-test, without SciPy (the Student-t distribution via the regularised incomplete beta
function, Numerical Recipes, section 6.4)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n)); stderr 0 for n < 2."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    if n < 2:
        return m, 0.0
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var / n)


def stderr_of_mean(values: Sequence[float]) -> float | None:
    """The standard error of the mean; None when fewer than two values (no spread to estimate)."""
    return mean_and_stderr(values)[1] if len(values) > 1 else None


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz), converging for x < (a + 1) / (a + b + 2)."""
    tiny, eps = 1e-300, 3e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom: 1 - I_{df/(df+t²)}(df/2, 1/2) / 2 for t > 0."""
    tail = 0.5 * regularized_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p (bisection on the CDF, to ~1e-12)."""
    if not 0 < p < 1:
        raise ValueError(f"a quantile needs 0 < p < 1, got {p}")
    low, high = -1.0, 1.0
    while student_t_cdf(low, df) > p:
        low *= 2
    while student_t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if student_t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, abs(mid)):
            break
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    """A mean (or a difference of means) with its two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    n: int  # values behind it (for a difference: both samples together)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean ± t_{(1+level)/2, n-1} · s / sqrt(n); a single value has a zero-width interval."""
    m, se = mean_and_stderr(values)
    if len(values) < 2:
        return Interval(m, m, m, len(values))
    half = student_t_quantile((1 + level) / 2, len(values) - 1) * se
    return Interval(m, m - half, m + half, len(values))


@dataclass(frozen=True)
class WelchTest:
    """Welch's unequal-variance t-test of a contrast of means (two samples: mean(a) - mean(b))."""

    difference: Interval  # the contrast (two samples: mean(a) - mean(b)) with its Welch confidence interval
    t: float
    df: float  # Welch-Satterthwaite degrees of freedom
    p_two_sided: float
    p_greater: float  # one-sided: H1 the contrast is > 0 (two samples: mean(a) > mean(b))


def welch_contrast(samples: Sequence[Sequence[float]], weights: Sequence[float], level: float = 0.95) -> WelchTest:
    """Welch's test of L = sum_i w_i · mean_i over independent samples: t = L / sqrt(sum_i w_i² s_i²/n_i),
    df = (sum_i u_i)² / sum_i u_i²/(n_i - 1) with u_i = w_i² s_i²/n_i (Satterthwaite 1946). Every sample
    needs >= 2 values and not all zero spread. E.g. weights (1, -1, -1, 1) test whether the gap a - b
    exceeds the gap c - d."""
    if len(samples) != len(weights):
        raise ValueError("a contrast needs one weight per sample")
    if any(len(s) < 2 for s in samples):
        raise ValueError("Welch's test needs at least two values per sample")
    stats = [mean_and_stderr(s) for s in samples]
    contrast = sum(w * m for w, (m, _) in zip(weights, stats))
    parts = [(w * se) ** 2 for w, (_, se) in zip(weights, stats)]
    se = math.sqrt(sum(parts))
    if se == 0:
        raise ValueError("Welch's test is undefined when every sample has zero spread")
    df = sum(parts) ** 2 / sum(u * u / (len(s) - 1) for u, s in zip(parts, samples) if u)
    t = contrast / se
    half = student_t_quantile((1 + level) / 2, df) * se
    upper_tail = 1.0 - student_t_cdf(t, df)
    return WelchTest(Interval(contrast, contrast - half, contrast + half, sum(len(s) for s in samples)), t, df,
                     2 * min(upper_tail, 1.0 - upper_tail), upper_tail)


def welch_test(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> WelchTest:
    """t = (ā - b̄) / sqrt(s_a²/n_a + s_b²/n_b), df = (v_a + v_b)² / (v_a²/(n_a-1) + v_b²/(n_b-1))
    with v = s²/n (Welch 1947); both samples need >= 2 values and not both zero spread."""
    return welch_contrast([a, b], [1.0, -1.0], level)
