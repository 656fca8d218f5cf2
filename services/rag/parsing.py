"""Document bytes -> plain text split into sections at headings.

Markdown and HTML keep their heading structure (a section runs from one heading to the
next, and knows the path of headings above it); a PDF is one section per page; plain text
is one section. Offsets are character positions in `Parsed.text`, which is what chunks
point into.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from services.errors import Invalid
from services.rag.model import SourceKind

_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_HTML_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "th", "dd", "dt",
                "blockquote", "figcaption")


@dataclass(frozen=True, slots=True)
class Section:
    heading: str  # "Guide > Install > Linux"; empty before the first heading
    start: int
    end: int


@dataclass(slots=True)
class Parsed:
    text: str
    title: str = ""
    sections: list[Section] = field(default_factory=list)


def _with_headings(text: str, marks: list[tuple[int, int, str]]) -> Parsed:
    """Sections from (offset, level, title) heading marks over `text`."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    first = marks[0][0] if marks else len(text)
    if text[:first].strip():
        sections.append(Section("", 0, first))
    for i, (offset, level, title) in enumerate(marks):
        path = [p for p in path if p[0] < level] + [(level, title)]
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        sections.append(Section(" > ".join(t for _, t in path), offset, end))
    title = marks[0][2] if marks else ""
    return Parsed(text=text, title=title, sections=sections)


def parse_markdown(text: str) -> Parsed:
    marks = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _MD_HEADING.finditer(text)]
    return _with_headings(text, marks)


def parse_text(text: str) -> Parsed:
    return Parsed(text=text, sections=[Section("", 0, len(text))] if text.strip() else [])


def parse_html(html: str) -> Parsed:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer"]):
        tag.decompose()
    parts: list[str] = []
    marks: list[tuple[int, int, str]] = []
    offset = 0
    for el in soup.find_all(_HTML_BLOCKS):
        # A block inside another block (a <p> in an <li>) is read once, with its parent.
        if el.find_parent(_HTML_BLOCKS) is not None:
            continue
        block = " ".join(el.get_text(" ").split())
        if not block:
            continue
        if el.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            marks.append((offset, int(el.name[1]), block))
        parts.append(block)
        offset += len(block) + 2
    parsed = _with_headings("\n\n".join(parts), marks)
    if soup.title and soup.title.string:
        parsed.title = soup.title.string.strip()
    return parsed


def parse_pdf(data: bytes) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise Invalid(f"unreadable PDF: {exc}", field="file") from exc
    text, sections, offset = "", [], 0
    for number, page in enumerate(pages, start=1):
        if page.strip():
            sections.append(Section(f"page {number}", offset, offset + len(page)))
        text += page + "\n\n"
        offset = len(text)
    return Parsed(text=text, sections=sections)


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse(kind: SourceKind, data: bytes) -> Parsed:
    """Parse by kind; a URL's kind is decided by its content type before this is called."""
    if kind is SourceKind.PDF:
        return parse_pdf(data)
    text = decode(data)
    if kind is SourceKind.HTML:
        return parse_html(text)
    if kind is SourceKind.MARKDOWN:
        return parse_markdown(text)
    return parse_text(text)
