"""Answers/s of the verifier pool: the 500 MATH-500 reference solutions against their golds,
with 1 and 2 worker processes (pool start-up excluded; it is reported separately)."""

from __future__ import annotations

import time

from repro.envs.verify import Check, VerifierPool, count_verdicts
from repro.io import read_jsonl
from repro.paths import data_file


def main() -> None:
    rows = read_jsonl(data_file("math500/test.jsonl"))
    checks = [Check(r["answer"], r["solution"]) for r in rows]
    print(f"verifier pool, MATH-500 reference solutions vs gold ({len(checks)} answers, last \\boxed{{}} only)")
    for workers in (1, 2):
        start = time.perf_counter()
        with VerifierPool(workers=workers, timeout_s=30) as pool:
            started = time.perf_counter() - start
            pool.check_all(checks[:4])  # warm-up: first parse compiles regexes and sympy caches
            t0 = time.perf_counter()
            verdicts = pool.check_all(checks)
            elapsed = time.perf_counter() - t0
        counts = count_verdicts(verdicts)
        print(f"workers={workers}: {len(checks) / elapsed:7.1f} answers/s  ({elapsed:.2f} s for {len(checks)}; "
              f"pool start {started:.2f} s; correct {counts['correct']}/{len(checks)})")


if __name__ == "__main__":
    main()
