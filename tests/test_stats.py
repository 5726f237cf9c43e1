"""repro.results.stats against values computed by hand (closed forms and printed t tables)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from repro.results.stats import (mean_ci, regularized_beta, student_t_cdf, student_t_quantile, welch_contrast,
                                 welch_test)


def test_regularized_beta_closed_forms():
    # I_x(1, 1) = x; I_x(2, 1) = x²; I_x(1, 2) = 1 - (1 - x)²
    assert regularized_beta(1, 1, 0.3) == pytest.approx(0.3, abs=1e-12)
    assert regularized_beta(2, 1, 0.3) == pytest.approx(0.09, abs=1e-12)
    assert regularized_beta(1, 2, 0.3) == pytest.approx(1 - 0.49, abs=1e-12)
    assert regularized_beta(2.5, 3.5, 0.0) == 0.0 and regularized_beta(2.5, 3.5, 1.0) == 1.0


@pytest.mark.parametrize("t", [-3.0, -0.5, 0.0, 0.7, 2.0, 12.706])
def test_t_cdf_matches_the_closed_forms_of_one_and_two_degrees(t):
    assert student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)  # Cauchy
    assert student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


@pytest.mark.parametrize("df, q", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (8, 2.3060), (30, 2.0423)])
def test_t_quantile_matches_the_printed_table(df, q):
    assert student_t_quantile(0.975, df) == pytest.approx(q, abs=1e-4)
    assert student_t_quantile(0.025, df) == pytest.approx(-q, abs=1e-4)


def test_mean_ci_by_hand():
    # values 1..5: mean 3, s = sqrt(2.5), se = sqrt(0.5); half width = 2.7764 * 0.70711 = 1.9632
    ci = mean_ci([1, 2, 3, 4, 5])
    assert ci.estimate == 3
    assert ci.half_width == pytest.approx(2.776445 * math.sqrt(0.5), abs=1e-5)
    assert mean_ci([4.0]).half_width == 0


def test_welch_by_hand():
    # a = 1..5 (mean 3, s² = 2.5), b = 2, 4, 6, 8, 10 (mean 6, s² = 10): v_a = 0.5, v_b = 2,
    # t = -3 / sqrt(2.5) = -1.8974, df = 2.5² / (0.25/4 + 4/4) = 5.8824
    w = welch_test([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert w.t == pytest.approx(-3 / math.sqrt(2.5), abs=1e-12)
    assert w.df == pytest.approx(6.25 / 1.0625, abs=1e-12)
    assert w.difference.estimate == -3
    assert w.p_two_sided == pytest.approx(2 * student_t_cdf(w.t, w.df), abs=1e-12)
    assert 0.10 < w.p_two_sided < 0.11  # t = 1.897 on ~5.9 df: between the 0.10 (1.943) and 0.20 columns
    assert w.p_greater == pytest.approx(1 - student_t_cdf(w.t, w.df), abs=1e-12)
    # the interval excludes 0 exactly when the two-sided p is below 0.05
    assert (w.difference.low > 0 or w.difference.high < 0) == (w.p_two_sided < 0.05)


def test_welch_contrast_of_two_gaps_by_hand():
    # (a - b) - (c - d) with a = c = 1..5 (mean 3, v = s²/n = 0.5), b = 2, 4, .., 10 (mean 6, v = 2), d = 0..4
    # (mean 2, v = 0.5): L = -3 - 1 = -4, se² = 3.5, t = -4 / sqrt(3.5) = -2.138,
    # df = 3.5² / ((0.25 + 4 + 0.25 + 0.25) / 4) = 12.25 / 1.1875 = 10.316
    a, b, d = [1, 2, 3, 4, 5], [2, 4, 6, 8, 10], [0, 1, 2, 3, 4]
    w = welch_contrast([a, b, a, d], [1, -1, -1, 1])
    assert w.difference.estimate == -4 and w.difference.n == 20
    assert w.t == pytest.approx(-4 / math.sqrt(3.5), abs=1e-12)
    assert w.df == pytest.approx(12.25 / 1.1875, abs=1e-12)
    assert w.difference.half_width == pytest.approx(student_t_quantile(0.975, w.df) * math.sqrt(3.5), abs=1e-9)
    assert 0.02 < 1 - w.p_greater < 0.03  # t = -2.14 on ~10.3 df: between the 0.025 (2.228) and 0.05 (1.812) columns
    # two samples: the contrast is Welch's test of a - b
    assert welch_contrast([a, b], [1, -1]) == welch_test(a, b)
    with pytest.raises(ValueError):
        welch_contrast([a, b], [1.0])


def test_welch_refuses_what_it_cannot_test():
    with pytest.raises(ValueError):
        welch_test([1.0], [2.0, 3.0])
    with pytest.raises(ValueError):
        welch_test([1.0, 1.0], [2.0, 2.0])


def _run(row: str, seed: int, steps: float):
    from repro.results.compare import Run

    return Run(Path(f"/runs/{row}-{seed}"), "train", "maze", row, "m", None, seed, {"mean_steps": steps}, 30, 64, 1.0,
               "abc", "h", "cpu")


def test_study_section_tests_each_prediction_in_its_direction(tmp_path):
    from repro.results.studies import load_studies, study_markdown

    (tmp_path / "_studies.yaml").write_text(
        "t:\n  metrics: [mean_steps]\n  predictions:\n"
        "    - {id: P1, claim: fewer, metric: mean_steps, a: short, b: long, direction: less}\n"
        "    - {id: P2, claim: more, metric: mean_steps, a: short, b: long, direction: greater}\n")
    study = load_studies(tmp_path)["t"]
    # short = 1..5, long = 5..9: difference -4, v_a = v_b = 0.5, so t = -4 on df = 1 / (2 · 0.25 / 4) = 8,
    # one-sided p = P(T_8 < -4) = 0.00197 (t tables: t_{0.995, 8} = 3.355, t_{0.9995, 8} = 5.041)
    runs = [_run("short", s, v) for s, v in enumerate([1, 2, 3, 4, 5])] + [_run("long", s, v + 4.0) for s, v in enumerate([1, 2, 3, 4, 5])]
    lines = study_markdown(study, runs).splitlines()
    p1 = next(line for line in lines if line.startswith("| P1"))
    p2 = next(line for line in lines if line.startswith("| P2"))
    assert "-4.00 [" in p1 and "-4.00 (8.0)" in p1 and "0.00197" in p1 and "| held" in p1
    assert "| 0.998 |" in p2 and "not held" in p2
    assert any("3.00 [1.04, 4.96] (n=5)" in line for line in lines)  # 3 ± 2.7764 · sqrt(0.5)


def test_threshold_predictions_scale_b_and_shift_by_the_margin(tmp_path):
    from repro.results.studies import load_studies, study_markdown

    (tmp_path / "_studies.yaml").write_text(
        "t:\n  metrics: [mean_steps]\n  predictions:\n"
        "    - {id: R, claim: halves, metric: mean_steps, a: short, b: long, direction: less, b_scale: 0.5}\n"
        "    - {id: M, claim: within, metric: mean_steps, a: short, b: close, direction: greater, margin: -8}\n"
        "    - {id: N, claim: within, metric: mean_steps, a: short, b: close, direction: greater, margin: -5}\n")
    study = load_studies(tmp_path)["t"]
    # 0.5 x long = 5..9 and close = 5..9: both the case of the test above (t = ∓4 on df = 8, p = 0.00197)
    # once short is compared with half of long, or short + 8 with close; short + 5 vs close: t = 1, p = 0.174
    runs = ([_run("short", s, v) for s, v in enumerate([1, 2, 3, 4, 5])]
            + [_run("long", s, 2 * (v + 4.0)) for s, v in enumerate([1, 2, 3, 4, 5])]
            + [_run("close", s, v + 4.0) for s, v in enumerate([1, 2, 3, 4, 5])])
    lines = study_markdown(study, runs).splitlines()
    r, m, n = (next(line for line in lines if line.startswith(f"| {i} ")) for i in "RMN")
    assert "halves (short < 0.5 × long)" in r and "-4.00 [" in r and "-4.00 (8.0)" in r and "0.00197" in r and "| held" in r
    # the interval is that of mean(a) - mean(b) (-4), the test against the margin
    assert "within (short − close > -8)" in m and "-4.00 [" in m and "+4.00 (8.0)" in m and "0.00197" in m and "| held" in m
    assert "+1.00 (8.0)" in n and "| 0.173 |" in n and "not held" in n


def test_study_file_errors_are_one_line(tmp_path):
    from repro.errors import ReproError
    from repro.results.studies import load_studies

    (tmp_path / "_studies.yaml").write_text("t:\n  predictions:\n    - {id: P, claim: c, metric: steps, a: x, b: y, direction: less}\n")
    with pytest.raises(ReproError, match="metric 'steps' is not one of"):
        load_studies(tmp_path)
    (tmp_path / "_studies.yaml").write_text(
        "t:\n  predictions:\n    - {id: P, claim: c, metric: mean_steps, a: x, b: y, minus: [z], direction: less}\n")
    with pytest.raises(ReproError, match="minus must name two rows"):
        load_studies(tmp_path)


def test_a_gap_prediction_tests_the_contrast_of_two_gaps(tmp_path):
    from repro.results.studies import load_studies, study_markdown

    (tmp_path / "_studies.yaml").write_text(
        "t:\n  metrics: [mean_steps]\n  predictions:\n"
        "    - {id: G, claim: wider, metric: mean_steps, a: a, b: b, minus: [c, d], direction: less}\n")
    study = load_studies(tmp_path)["t"]
    assert study.predictions[0].minus == ("c", "d")
    # the by-hand contrast of test_welch_contrast_of_two_gaps_by_hand: -4, t = -2.138 on 10.3 df, one-sided p 0.029
    values = {"a": [1, 2, 3, 4, 5], "b": [2, 4, 6, 8, 10], "c": [1, 2, 3, 4, 5], "d": [0, 1, 2, 3, 4]}
    runs = [_run(row, s, v) for row, vs in values.items() for s, v in enumerate(vs)]
    lines = study_markdown(study, runs).splitlines()
    g = next(line for line in lines if line.startswith("| G"))
    assert "-4.00 [" in g and "-2.14 (10.3)" in g and "| held" in g
    assert any("(a − b) − (c − d): mean [95% CI]" in line for line in lines)
