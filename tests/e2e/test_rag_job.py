"""A `rag` job through RabbitMQ: documents ingested over the API, a question submitted as a
job, a worker retrieves and answers, and the answer's citations point at the documents."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from api.app import create_app
from config import RagSettings
from tests.backends import context, make_settings, new_key
from workers.process import start_runner

DOCS = {
    "sloths": "# Sloths\n\nThe three-toed sloth sleeps fifteen to twenty hours a day in the canopy.",
    "otters": "# Otters\n\nSea otters hold hands while they sleep so they do not drift apart.",
    "camels": "# Camels\n\nA camel stores fat, not water, in its hump and can go a week without drinking.",
}


async def test_a_queued_rag_job_answers_with_citations_of_the_ingested_documents(unique: str, tmp_path: Path) -> None:
    settings = make_settings("real", unique, tmp_path)
    settings = settings.model_copy(update={"rag": RagSettings(ingest_mode="in_process")})
    async with context(settings) as ctx:
        runner = await start_runner(ctx, ["rag", "metrics"])
        try:
            app = create_app(settings, ctx=ctx)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         timeout=30) as client:
                org, other = await new_key(ctx, "org-a"), await new_key(ctx, "org-b")
                col = (await client.post("/api/v1/rag/collections", headers=org, json={"name": "animals"})).json()
                ids = {}
                for name, text in DOCS.items():
                    added = await client.post(f"/api/v1/rag/collections/{col['id']}/documents", headers=org,
                                              json={"text": text, "format": "markdown", "external_id": name})
                    assert added.status_code == 202, added.text
                    ids[added.json()["id"]] = name
                async with asyncio.timeout(30):
                    while True:
                        listed = await client.get(f"/api/v1/rag/collections/{col['id']}/documents", headers=org)
                        if {d["status"] for d in listed.json()["data"]} == {"ready"}:
                            break
                        await asyncio.sleep(0.1)
                # The mock model repeats the question, so the answer cites what it names.
                question = "How long do sloths sleep? [1]"
                body = {"kind": "rag", "payload": {"collections": [col["id"]], "question": question, "k": 2,
                                                   "provider": "mock", "model": "mock-0ms"}}
                submitted = await client.post("/api/v1/jobs", headers=org, json=body)
                assert submitted.status_code == 202, submitted.text
                job = (await client.get(f"/api/v1/jobs/{submitted.json()['id']}?wait=20", headers=org)).json()
                # Another org cannot use the collection: the job fails, naming no document.
                theirs = await client.post("/api/v1/jobs?wait=20", headers=other, json=body)
        finally:
            await runner.stop()
    assert job["status"] == "succeeded" and job["kind"] == "rag", job
    [citation] = job["result"]["citations"]
    assert citation["n"] == 1 and ids[citation["document_id"]] == "sloths"
    assert "fifteen to twenty hours" in citation["snippet"]
    assert job["meta"]["retrieval"]["hits"] == 2 and job["meta"]["provider"] == "mock"
    assert theirs.json()["status"] == "failed" and theirs.json()["error"]["code"] == "collection_not_found"
