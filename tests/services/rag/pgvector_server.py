"""One PostgreSQL 16 + pgvector per test session, from the `pgserver` wheel.

`PGVECTOR_URL` in the environment wins (a server someone already runs). Otherwise the
server is started under a temporary directory; if that fails the tests fail under CI=true
(so CI can never pass without testing the pgvector adapter) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    url = os.environ.get("PGVECTOR_URL")
    if url:
        yield url
        return
    try:
        import pgserver

        root = tempfile.mkdtemp(prefix="aim-pgvector-")
        server = pgserver.get_server(root, cleanup_mode="delete")
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    except Exception as exc:  # any failure to start is the same verdict: no server
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"pgserver could not start PostgreSQL + pgvector: {exc}")
        pytest.skip(f"pgserver could not start: {exc}")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
