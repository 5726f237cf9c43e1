"""WebShop search fidelity: our bm25s ranking vs Lucene's own ranking on the shipped index.

Queries (docs/envs.md §3.1): the 415 synthetic instructions and the 246 distinct product queries.
Lucene's ranking comes from the Anserini jar inside the PyPI ``pyserini==0.22.1`` wheel, run with
Java 17 through pyjnius over ``webshop/indexes_1k`` (exactly what WebShop's pyserini searcher
does). Prints top-1 agreement and overlap@10 / overlap@50, plus how often the target product of
goals 0-199 is among the top 50 for its full instruction under each ranking (the oracle's reach).

Setup (not project dependencies; a benchmark only)::

    pip download --no-deps pyserini==0.22.1 -d ~/.cache/repro/pyserini
    unzip -j ~/.cache/repro/pyserini/pyserini-0.22.1-py3-none-any.whl \
        pyserini/resources/jars/anserini-0.22.1-fatjar.jar -d ~/.cache/repro/pyserini
    .venv/bin/pip install pyjnius
    .venv/bin/python bench/search.py [--jar PATH]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from repro.envs.webshop import WebShopConfig, WebShopEnv
from repro.paths import cache_dir, data_dir


def lucene_searcher(jar: str, index: str):
    import jnius_config

    jnius_config.set_classpath(jar)
    from jnius import autoclass

    return autoclass("io.anserini.search.SimpleSearcher")(index)


def lucene_top(searcher, query: str, k: int = 50) -> list[str]:
    return [hit.docid for hit in searcher.search(query, k)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jar", default=str(cache_dir() / "pyserini" / "anserini-0.22.1-fatjar.jar"))
    args = parser.parse_args()
    if shutil.which("java") is None:
        sys.exit("blocked: no java on PATH (needs Java 17)")
    print(subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0])

    env = WebShopEnv(WebShopConfig())
    catalog = env.catalog
    ours = env.search_engine
    searcher = lucene_searcher(args.jar, str(data_dir() / "webshop" / "indexes_1k"))

    instructions = [e["instruction"] for e in catalog.instructions.values() if e.get("instruction")]
    product_queries = sorted({p["query"] for p in catalog.products.values()})
    print(f"queries: {len(instructions)} synthetic instructions + {len(product_queries)} product queries")

    top1 = top10 = top50 = 0.0
    ours_s = lucene_s = 0.0
    queries = [q.lower() for q in instructions + product_queries]
    for q in queries:
        t = time.perf_counter()
        mine = [catalog.order[i] for i in ours.search(q)]
        ours_s += time.perf_counter() - t
        t = time.perf_counter()
        ref = lucene_top(searcher, q)
        lucene_s += time.perf_counter() - t
        top1 += bool(mine and ref and mine[0] == ref[0]) or (not mine and not ref)
        top10 += len(set(mine[:10]) & set(ref[:10])) / max(1, min(10, len(ref)))
        top50 += len(set(mine) & set(ref)) / max(1, len(ref))
    n = len(queries)
    print(f"top-1 agreement {top1 / n:.3f}   overlap@10 {top10 / n:.3f}   overlap@50 {top50 / n:.3f}")
    print(f"ms/query: bm25s {1000 * ours_s / n:.2f}   lucene {1000 * lucene_s / n:.2f}")

    found_ours = found_lucene = 0
    for goal in env.goals[:200]:
        q = goal["instruction_text"].lower()
        found_ours += goal["asin"] in {catalog.order[i] for i in ours.search(q)}
        found_lucene += goal["asin"] in set(lucene_top(searcher, q))
    print(f"goals 0-199, target in top 50 for its instruction: bm25s {found_ours}/200   lucene {found_lucene}/200")


if __name__ == "__main__":
    main()
