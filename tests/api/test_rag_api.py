"""The RAG and embeddings routes on the real app and Context (offline embedder, embedded
stores, ingestion in process), authenticated with real API keys of two orgs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from api.app import create_app
from services.rag.ingest.queue import InProcessIngest
from tests.backends import context, make_settings, new_key
from tests.serving import serve

ORG_B: dict[str, str] = {}


@pytest.fixture
async def api(unique: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, InProcessIngest, str]]:
    settings = make_settings("embedded", unique, tmp_path)
    async with context(settings) as ctx:
        queue = ctx.rag.queue
        assert isinstance(queue, InProcessIngest)
        org_a = await new_key(ctx, "org_a")
        ORG_B.clear()
        ORG_B.update(await new_key(ctx, "org_b"))
        async with serve(create_app(settings, ctx=ctx)) as url, httpx.AsyncClient(base_url=url, headers=org_a,
                                                                                    timeout=30) as client:
            yield client, queue, url


async def test_collection_documents_search_flow(api: tuple[httpx.AsyncClient, InProcessIngest, str]) -> None:
    client, queue, _ = api
    r = await client.post("/api/v1/rag/collections", json={"name": "handbook"})
    assert r.status_code == 201, r.text
    col = r.json()["id"]
    assert r.json()["embedding"] == {"provider": "local", "model": "wordllama-l2-256", "dimension": 256}
    r = await client.post(f"/api/v1/rag/collections/{col}/documents",
                          json={"text": "# Holidays\n\nStaff get 30 days of paid leave.", "format": "markdown"})
    assert r.status_code == 202 and r.json()["status"] == "queued"
    doc = r.json()["id"]
    files = {"file": ("expenses.html", b"<h1>Expenses</h1><p>Taxis are refunded within 14 days.</p>", "text/html")}
    r = await client.post(f"/api/v1/rag/collections/{col}/documents", files=files, data={"metadata": '{"team": "ops"}'})
    assert r.status_code == 202, r.text
    await queue.drain()
    r = await client.get(f"/api/v1/rag/collections/{col}/documents/{doc}")
    assert r.json()["status"] == "ready" and r.json()["chunk_count"] == 1
    r = await client.post(f"/api/v1/rag/collections/{col}/search",
                          json={"query": "how fast are taxi refunds", "k": 1, "filters": {"team": "ops"}})
    assert r.status_code == 200, r.text
    [hit] = r.json()["data"]
    assert "Taxis are refunded" in hit["text"] and hit["heading"] == "Expenses" and hit["start"] == 0
    # The mock model echoes the question, so its answer cites source [1].
    r = await client.post("/api/v1/rag/query", json={"collections": [col], "question": "taxi refunds? [1]", "k": 2,
                                                     "provider": "mock", "model": "mock-0ms"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["content"] == "echo: taxi refunds? [1]" and answer["retrieval"]["hits"] == 2
    job = (await client.get(f"/api/v1/jobs/{answer['job_id']}")).json()
    assert (job["kind"], job["status"], job["meta"]["provider"]) == ("rag", "succeeded", "mock")
    assert [c["n"] for c in answer["citations"]] == [1] and "Taxis are refunded" in answer["citations"][0]["snippet"]
    r = await client.patch(f"/api/v1/rag/collections/{col}", json={"embedding": {"dimension": 8}})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "embedding"
    r = await client.patch(f"/api/v1/rag/collections/{col}", json={"description": "company rules"})
    assert r.status_code == 200 and r.json()["description"] == "company rules"
    # Same JSON again: unchanged, nothing queued.
    r = await client.post(f"/api/v1/rag/collections/{col}/documents",
                          json={"text": "# Holidays\n\nStaff get 30 days of paid leave.", "format": "markdown"})
    assert r.json() == {"id": doc, "status": "ready", "unchanged": True}
    # Another org: not found everywhere.
    other = ORG_B
    assert (await client.get(f"/api/v1/rag/collections/{col}", headers=other)).status_code == 404
    assert (await client.post(f"/api/v1/rag/collections/{col}/search", json={"query": "taxi"},
                              headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/rag/collections/{col}/documents/{doc}", headers=other)).status_code == 404
    assert (await client.delete(f"/api/v1/rag/collections/{col}/documents/{doc}")).status_code == 204
    assert (await client.get(f"/api/v1/rag/collections/{col}/documents/{doc}")).status_code == 404


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/collections", {"name": ""}, "name"),
    ("/collections", {"name": "x", "embedding": {"provider": "nope"}}, "model"),
    ("/collections", {"name": "x", "chunking": {"max_tokens": 64, "overlap_tokens": 64}}, "chunking.overlap_tokens"),
    ("/collections", {"name": "x", "embedding_model": "y"}, "embedding_model"),
])
async def test_bad_collection_names_the_field(api: tuple[httpx.AsyncClient, InProcessIngest, str], path: str,
                                              body: dict[str, object], field: str) -> None:
    client, _, _ = api
    r = await client.post(f"/api/v1/rag{path}", json=body)
    assert r.status_code == 422, r.text
    assert field in {f["field"] for f in r.json()["error"]["fields"]}


async def test_bad_documents_and_searches_are_4xx(api: tuple[httpx.AsyncClient, InProcessIngest, str]) -> None:
    client, _, _ = api
    col = (await client.post("/api/v1/rag/collections", json={"name": "c"})).json()["id"]
    base = f"/api/v1/rag/collections/{col}"
    cases = [
        (await client.post(f"{base}/documents", json={}), "text"),
        (await client.post(f"{base}/documents", json={"url": "http://169.254.169.254/latest"}), "url"),
        (await client.post(f"{base}/documents", files={"file": ("a.exe", b"MZ", "application/octet-stream")}), "file"),
        (await client.post(f"{base}/search", json={"query": "x", "mode": "fuzzy"}), "mode"),
        (await client.post(f"{base}/search", json={"query": "x", "filters": {"a": {"gt": 1}}}), "filters.a"),
    ]
    for response, field in cases:
        assert response.status_code == 422, response.text
        assert field in {f["field"] for f in response.json()["error"]["fields"]}


async def test_openai_sdk_embeddings_create(api: tuple[httpx.AsyncClient, InProcessIngest, str]) -> None:
    _, _, url = api
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=api[0].headers["authorization"].split(" ")[1])
    result = await client.embeddings.create(model="local/wordllama-l2-256", input=["a cat", "a dog", "a cat"])
    assert len(result.data) == 3 and len(result.data[0].embedding) == 256
    assert result.data[0].embedding == pytest.approx(result.data[2].embedding, abs=1e-6)
    assert result.data[0].embedding != result.data[1].embedding
    floats = await client.embeddings.create(model="wordllama-l2-256", input="a cat", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)
    with pytest.raises(openai.UnprocessableEntityError):
        await client.embeddings.create(model="nope/x", input="a")
    await client.close()
