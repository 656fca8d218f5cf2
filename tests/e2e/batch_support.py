"""A batch through the `openai` SDK against the in-test platform, as an integrator runs it:
upload the JSONL, create the batch, poll it to an end, download the output."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx2
import openai
import orjson
from openai.types import Batch

from tests.platform import Platform


async def sdk_batch(p: Platform, model: str, n: int, *, timeout_s: float = 120) -> tuple[Batch, list[dict[str, Any]]]:
    """The ended batch and its output rows (none when it has no output file)."""
    transport = httpx2.ASGITransport(app=p.client._transport.app)  # type: ignore[attr-defined]
    client = openai.AsyncOpenAI(base_url="http://test/v1", api_key=p.org_a["Authorization"][7:],
                                http_client=httpx2.AsyncClient(transport=transport, base_url="http://test"))
    lines = [{"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": model, "messages": [{"role": "user", "content": f"hi {i}"}]}} for i in range(n)]
    upload = await client.files.create(file=("in.jsonl", io.BytesIO(b"\n".join(orjson.dumps(x) for x in lines))),
                                       purpose="batch")
    batch = await client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
    async with asyncio.timeout(timeout_s):
        while batch.status not in ("completed", "failed", "cancelled"):
            await asyncio.sleep(0.1)
            batch = await client.batches.retrieve(batch.id)
    if not batch.output_file_id:
        return batch, []
    output = await client.files.content(batch.output_file_id)
    return batch, [orjson.loads(line) for line in output.content.splitlines()]
