"""Fetch a document URL through the platform's address guard (checked again on every use:
DNS can change between save and fetch), with a size cap and no redirects."""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import Invalid, Permanent, Retryable
from services.net.client import GuardedClient, HttpError
from services.net.guard import NetPolicy, UnsafeTarget, check_url
from services.rag.model import SourceKind


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    kind: SourceKind


def kind_of(content_type: str, url: str) -> SourceKind:
    ctype = content_type.split(";")[0].strip().lower()
    path = url.split("?")[0].lower()
    if ctype == "application/pdf" or path.endswith(".pdf"):
        return SourceKind.PDF
    if ctype in ("text/html", "application/xhtml+xml") or path.endswith((".html", ".htm")):
        return SourceKind.HTML
    if ctype == "text/markdown" or path.endswith(".md"):
        return SourceKind.MARKDOWN
    return SourceKind.TEXT


class UrlFetcher:
    def __init__(self, policy: NetPolicy, *, max_bytes: int) -> None:
        self._policy = policy
        self._max_bytes = max_bytes

    async def check(self, url: str) -> None:
        """On save: refuse unsafe targets as a 422 naming `url`."""
        try:
            await check_url(url, self._policy)
        except UnsafeTarget as exc:
            raise Invalid(f"unsafe URL: {exc.reason}", field="url") from exc

    async def fetch(self, url: str) -> Fetched:
        target = await check_url(url, self._policy)
        # A client per fetch: ingestion runs on whichever loop the queue gives it (a Celery
        # task's own), and a session belongs to one loop.
        async with GuardedClient(self._policy, max_connections=4) as client:
            try:
                # One byte over the cap tells a document at the cap from one beyond it.
                response = await client.request("GET", target, read_limit=self._max_bytes + 1)
            except HttpError as exc:
                raise Retryable(f"fetch failed: {exc.kind}", code="fetch_failed") from exc
        if response.status >= 500 or response.status == 429:
            raise Retryable(f"fetch answered {response.status}", code="fetch_failed")
        if response.status != 200:
            raise Permanent(f"fetch answered {response.status}", code="fetch_failed")
        if len(response.body) > self._max_bytes:
            raise Permanent(f"document over {self._max_bytes} bytes", code="too_large")
        return Fetched(response.body, kind_of(response.headers.get("content-type", ""), url))
