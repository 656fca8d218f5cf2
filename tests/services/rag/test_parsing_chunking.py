"""Parsing keeps heading structure; chunking is token-bounded, overlapping and never
crosses a heading (measured with the same tokenizer the pipeline uses)."""

from __future__ import annotations

import itertools

import pytest

from services.errors import Invalid
from services.providers.embeddings.local import token_lengths
from services.rag.chunking import chunk
from services.rag.model import ChunkingSpec, SourceKind
from services.rag.parsing import parse

LENGTHS = token_lengths()


def _pdf(text: str) -> bytes:
    """A one-page PDF whose page shows `text` (offsets computed, so the xref is valid)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_markdown_chunks_respect_headings_bounds_and_overlap() -> None:
    body = " ".join(f"word{i}" for i in range(400))
    parsed = parse(SourceKind.MARKDOWN, f"# Guide\nintro\n\n## Install\n{body}\n\n## Use\nrun it".encode())
    spans = chunk(parsed, ChunkingSpec(max_tokens=64, overlap_tokens=16), LENGTHS)
    assert spans[0].heading == "Guide" and spans[-1].heading == "Guide > Use"
    assert spans[-1].text == "## Use\nrun it"  # a heading starts a new chunk
    install = [s for s in spans if s.heading == "Guide > Install"]
    assert len(install) > 5
    for span in install:
        assert sum(LENGTHS(span.text.split())) <= 64
        assert parsed.text[span.start:span.end] == span.text
    for first, second in itertools.pairwise(install):
        assert second.start < first.end  # consecutive windows overlap
    covered = " ".join(s.text for s in install)
    assert all(f"word{i}" in covered for i in range(400))


def test_html_headings_and_noise() -> None:
    html = (b"<html><head><title>Handbook</title><style>p{}</style></head><body><nav>menu</nav>"
            b"<h1>Leave</h1><p>30 days</p><h2>Sick</h2><ul><li>call <b>HR</b></li></ul></body></html>")
    parsed = parse(SourceKind.HTML, html)
    assert parsed.title == "Handbook" and "menu" not in parsed.text
    assert [s.heading for s in parsed.sections] == ["Leave", "Leave > Sick"]
    assert "call HR" in parsed.text


def test_pdf_pages_and_garbage() -> None:
    parsed = parse(SourceKind.PDF, _pdf("Refunds take 14 days"))
    assert "Refunds take 14 days" in parsed.text and parsed.sections[0].heading == "page 1"
    with pytest.raises(Invalid) as bad:
        parse(SourceKind.PDF, b"not a pdf at all")
    assert bad.value.field == "file"
