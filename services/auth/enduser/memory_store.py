"""In-process chatbot auth store, saved to a JSON file when given a path."""

from __future__ import annotations

from pathlib import Path

import orjson

from services.auth.enduser.model import ChatbotAuth
from services.common.jsonfile import save_json


class MemoryChatbotAuthStore:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._records: dict[str, ChatbotAuth] = {}

    async def connect(self) -> None:
        if self._path and self._path.exists():
            for raw in orjson.loads(self._path.read_bytes()):
                record = ChatbotAuth.model_validate(raw)
                self._records[record.org_id] = record

    async def close(self) -> None:
        return None

    def _save(self) -> None:
        if self._path:
            save_json(self._path, [r.model_dump(mode="json") for r in self._records.values()])

    async def get(self, org_id: str) -> ChatbotAuth | None:
        record = self._records.get(org_id)
        return record.model_copy(deep=True) if record else None

    async def put(self, record: ChatbotAuth) -> None:
        self._records[record.org_id] = record.model_copy(deep=True)
        self._save()

    async def delete(self, org_id: str) -> bool:
        found = self._records.pop(org_id, None) is not None
        self._save()
        return found
