"""The providers' batch APIs in the simulator: OpenAI's `/v1/files` + `/v1/batches` and
Anthropic's `/v1/messages/batches`.

Each line is answered with the simulator's normal chat behaviour (the same `answer` as a
single call). A batch stays `in_progress` for `complete_after_s` (`POST /_sim/batches
{"complete_after_s": 0.5}`; 0.2 s by default so tests are fast), then its results are
computed on the next read; a cancel before that ends it with every request cancelled.
`GET /_sim/batches` lists the batches with their request counts, so a test can check that
work went through the batch API rather than one chat call per line.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from services.providers.simulator import anthropic_format, openai_format
from services.providers.simulator.answers import answer

_ids = itertools.count(1)
OPENAI_PREFIX = "/openai/v1/"
ANTHROPIC_PREFIX = "/anthropic/v1/messages/batches"


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class SimBatch:
    id: str
    provider: str
    requests: list[dict[str, Any]]
    created_at: float
    input_file_id: str = ""
    cancelled_at: float | None = None
    ended_at: float | None = None
    # custom_id -> result line (OpenAI output line, or Anthropic result line)
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SimBatches:
    complete_after_s: float = 0.2
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, SimBatch] = field(default_factory=dict)

    def configure(self, raw: dict[str, Any]) -> None:
        self.complete_after_s = max(0.0, float(raw.get("complete_after_s", 0.2)))

    def stats(self) -> list[dict[str, Any]]:
        return [{"id": b.id, "provider": b.provider, "requests": len(b.requests),
                 "status": self._status(b), "custom_ids": [r["custom_id"] for r in b.requests]}
                for b in self.batches.values()]

    def _settle(self, b: SimBatch) -> None:
        """End the batch once its time has come (or at cancel), computing every result."""
        if b.ended_at is not None:
            return
        now = time.time()
        if b.cancelled_at is None and now < b.created_at + self.complete_after_s:
            return
        b.ended_at = now
        for r in b.requests:
            b.results.append(self._result(b, r))

    def _result(self, b: SimBatch, request: dict[str, Any]) -> dict[str, Any]:
        cid = request["custom_id"]
        if b.provider == "anthropic":
            if b.cancelled_at is not None:
                return {"custom_id": cid, "result": {"type": "canceled"}}
            params = request["params"]
            ans = answer(anthropic_format.parse_prompt(params))
            return {"custom_id": cid, "result": {"type": "succeeded", "message": orjson.loads(
                anthropic_format.message(ans, str(params.get("model") or "")))}}
        body = request.get("body") or {}
        if b.cancelled_at is not None:
            return {"id": f"batch_req_{next(_ids)}", "custom_id": cid, "response": None,
                    "error": {"code": "batch_cancelled", "message": "the batch was cancelled"}}
        ans = answer(openai_format.parse_prompt(body))
        return {"id": f"batch_req_{next(_ids)}", "custom_id": cid, "error": None, "response": {
            "status_code": 200, "request_id": f"req_{next(_ids)}",
            "body": orjson.loads(openai_format.completion(ans, str(body.get("model") or "")))}}

    def _status(self, b: SimBatch) -> str:
        self._settle(b)
        if b.ended_at is None:
            return "cancelling" if b.cancelled_at is not None else "in_progress"
        return "cancelled" if b.cancelled_at is not None else "completed"

    # -- OpenAI --------------------------------------------------------------------------

    def upload(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-sim{next(_ids)}"
        self.files[file_id] = content
        return self._file(file_id, filename, purpose)

    def _file(self, file_id: str, filename: str = "batch.jsonl", purpose: str = "batch") -> dict[str, Any]:
        return {"id": file_id, "object": "file", "bytes": len(self.files[file_id]), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}

    def openai_create(self, body: dict[str, Any]) -> dict[str, Any] | None:
        content = self.files.get(str(body.get("input_file_id")))
        if content is None:
            return None
        lines = [orjson.loads(line) for line in content.splitlines() if line.strip()]
        b = SimBatch(f"batch_sim{next(_ids)}", "openai", lines, time.time(), str(body["input_file_id"]))
        self.batches[b.id] = b
        return self.openai_batch(b)

    def openai_batch(self, b: SimBatch) -> dict[str, Any]:
        status = self._status(b)
        out_id = err_id = None
        if b.ended_at is not None:
            ok = [r for r in b.results if r["response"] is not None]
            bad = [r for r in b.results if r["response"] is None]
            out_id, err_id = f"file-out-{b.id}", f"file-err-{b.id}"
            self.files[out_id] = b"".join(orjson.dumps(r) + b"\n" for r in ok)
            self.files[err_id] = b"".join(orjson.dumps(r) + b"\n" for r in bad)
        failed = sum(1 for r in b.results if r["response"] is None)
        return {"id": b.id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
                "input_file_id": b.input_file_id, "completion_window": "24h", "status": status,
                "output_file_id": out_id, "error_file_id": err_id, "created_at": int(b.created_at),
                "request_counts": {"total": len(b.requests), "completed": len(b.results) - failed,
                                   "failed": failed}}

    # -- Anthropic -----------------------------------------------------------------------

    def anthropic_create(self, body: dict[str, Any]) -> dict[str, Any]:
        b = SimBatch(f"msgbatch_sim{next(_ids)}", "anthropic", list(body.get("requests") or []), time.time())
        self.batches[b.id] = b
        return self.anthropic_batch(b, "")

    def anthropic_batch(self, b: SimBatch, root: str) -> dict[str, Any]:
        status = self._status(b)
        counts = {"processing": 0 if b.ended_at else len(b.requests), "succeeded": 0, "errored": 0,
                  "canceled": 0, "expired": 0}
        for r in b.results:
            counts[r["result"]["type"]] += 1
        return {"id": b.id, "type": "message_batch", "created_at": _iso(b.created_at),
                "expires_at": _iso(b.created_at + 86_400), "ended_at": _iso(b.ended_at),
                "cancel_initiated_at": _iso(b.cancelled_at), "archived_at": None,
                "processing_status": "ended" if status in ("completed", "cancelled") else
                ("canceling" if status == "cancelling" else "in_progress"),
                "request_counts": counts,
                "results_url": f"{root}/anthropic/v1/messages/batches/{b.id}/results" if b.ended_at else None}

    def cancel(self, b: SimBatch) -> None:
        if b.ended_at is None and b.cancelled_at is None:
            b.cancelled_at = time.time()
