"""Token-aware chunking with overlap that never crosses a heading.

Each section (see parsing.py) is cut into windows of at most `max_tokens` tokens, measured
by a real tokenizer (`token_lengths`, the Llama-2 one shipped with the offline embedder);
consecutive windows of a section share `overlap_tokens` tokens so a sentence cut at a
boundary is whole in one of them. Words are the unit of cutting, so offsets always fall on
whitespace. A section smaller than the window is one chunk; adjacent tiny sections are not
merged, because a heading is the best boundary the author gave us.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from services.rag.model import ChunkingSpec
from services.rag.parsing import Parsed

TokenLengths = Callable[[list[str]], list[int]]
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    start: int
    end: int
    heading: str


def _windows(lengths: list[int], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) word ranges covering every word, each within max_tokens."""
    out: list[tuple[int, int]] = []
    first, n = 0, len(lengths)
    while first < n:
        total, last = 0, first
        while last < n and (total + lengths[last] <= max_tokens or last == first):
            total += lengths[last]
            last += 1
        out.append((first, last))
        if last >= n:
            break
        back, kept = last, 0
        while back - 1 > first and kept + lengths[back - 1] <= overlap:
            back -= 1
            kept += lengths[back]
        first = back
    return out


def chunk(parsed: Parsed, spec: ChunkingSpec, token_lengths: TokenLengths) -> list[Span]:
    """Every section's text as token-bounded, overlapping spans, in document order."""
    overlap = min(spec.overlap_tokens, spec.max_tokens // 2)
    spans: list[Span] = []
    for section in parsed.sections:
        words = list(_WORD.finditer(parsed.text, section.start, section.end))
        if not words:
            continue
        lengths = token_lengths([w.group() for w in words])
        for first, last in _windows(lengths, spec.max_tokens, overlap):
            start, end = words[first].start(), words[last - 1].end()
            spans.append(Span(parsed.text[start:end], start, end, section.heading))
    return spans
