"""BM25 over the products' ``contents`` field, standing in for pyserini's Lucene (docs/envs.md §3.1).

bm25s with ``method="lucene"``, k1 = 0.9, b = 0.4 (Anserini's defaults), its English stop words and
the Snowball stemmer: 0.93 top-1 agreement with Lucene's own ranking (bench/search.py measures it).
Like Lucene, only documents matching at least one query term are hits, and ties go to the lower
document id.
"""

from __future__ import annotations

import bm25s
import numpy as np
import Stemmer

SEARCH_RETURN_N = 50  # WebShop shows the top 50 hits
CACHE_SIZE = 4096  # queries remembered per env (episodes of a group repeat their searches)


class ProductSearch:
    def __init__(self, contents: list[str], k1: float = 0.9, b: float = 0.4):
        self._stemmer = Stemmer.Stemmer("english")
        corpus = bm25s.tokenize(contents, stopwords="en", stemmer=self._stemmer, show_progress=False)
        self._bm25 = bm25s.BM25(method="lucene", k1=k1, b=b)
        self._bm25.index(corpus, show_progress=False)
        self._vocab = self._bm25.vocab_dict
        self._cache: dict[str, list[int]] = {}

    def _query_terms(self, query: str) -> list[str]:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer,
                                return_ids=False, show_progress=False)[0]
        return [t for t in tokens if t in self._vocab]

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[int]:
        """Document indices of the top-``k`` hits, best first."""
        if query not in self._cache:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            terms = self._query_terms(query)
            if not terms:
                self._cache[query] = []
            else:
                scores = self._bm25.get_scores(terms)
                hits = np.flatnonzero(scores > 0)
                # stable sort on -score keeps ascending doc id among equal scores (Lucene's tie order)
                ranked = hits[np.argsort(-scores[hits], kind="stable")]
                self._cache[query] = ranked[:k].tolist()
        return self._cache[query]
