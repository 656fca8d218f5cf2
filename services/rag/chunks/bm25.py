"""Okapi BM25 over chunk texts, for the embedded store (k1=1.2, b=0.75, Lucene's defaults).

Terms are lower-cased words without English stop words and with a light plural strip, so
"lists" finds "list" as PostgreSQL's english stemmer does in the production adapter.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9_]+")
STOP = frozenset(
    "a an and are as at be but by for from has have how i if in into is it its of on or "
    "that the their then there these this to was what when where which who why will with "
    "you your do does can".split())
K1, B = 1.2, 0.75


def terms(text: str) -> list[str]:
    out = []
    for word in _WORD.findall(text.lower()):
        if word in STOP:
            continue
        if len(word) > 4 and word.endswith("es") and not word.endswith("ses"):
            word = word[:-2]
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


class Bm25Index:
    def __init__(self) -> None:
        self.postings: dict[str, dict[str, int]] = {}
        self.lengths: dict[str, int] = {}
        self._total = 0

    def add(self, chunk_id: str, text: str) -> None:
        counts = Counter(terms(text))
        self.lengths[chunk_id] = sum(counts.values())
        self._total += self.lengths[chunk_id]
        for term, tf in counts.items():
            self.postings.setdefault(term, {})[chunk_id] = tf

    def remove(self, chunk_id: str, text: str) -> None:
        self._total -= self.lengths.pop(chunk_id, 0)
        for term in set(terms(text)):
            posting = self.postings.get(term)
            if posting is not None:
                posting.pop(chunk_id, None)
                if not posting:
                    del self.postings[term]

    def scores(self, query: str) -> dict[str, float]:
        n = len(self.lengths)
        if not n:
            return {}
        avg = self._total / n or 1.0
        out: dict[str, float] = {}
        for term in set(terms(query)):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            for chunk_id, tf in posting.items():
                norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * self.lengths[chunk_id] / avg))
                out[chunk_id] = out.get(chunk_id, 0.0) + idf * norm
        return out
