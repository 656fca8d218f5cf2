"""In-process credential store, saved to the embedded JSON file when given one.

Every read returns a copy, as a database would, so a caller editing what it got back never
changes the stored record behind the store's back.
"""

from __future__ import annotations

import asyncio

from services.config.json_file import JsonFile
from services.config.paging import Page, page_of
from services.credentials.model import Credential

COLLECTION = "credentials"


class MemoryCredentialStore:
    def __init__(self, file: JsonFile | None = None) -> None:
        self._file = file
        self._creds: dict[str, Credential] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._file is None:
            return
        for raw in self._file.read(COLLECTION):
            cred = Credential.model_validate(raw)
            self._creds[cred.id] = cred

    def _save(self) -> None:
        if self._file is not None:
            self._file.write({COLLECTION: [c.model_dump(mode="json") for c in self._creds.values()]})

    async def put_credential(self, credential: Credential) -> Credential:
        async with self._lock:
            current = next(
                (c for c in self._creds.values()
                 if c.org_id == credential.org_id and c.provider == credential.provider),
                None,
            )
            stored = credential.model_copy()
            if current is not None:
                stored.id, stored.created_at = current.id, current.created_at
            self._creds[stored.id] = stored
            self._save()
            return stored.model_copy()

    async def get_credential(self, org_id: str, provider: str) -> Credential | None:
        for cred in self._creds.values():
            if cred.org_id == org_id and cred.provider == provider:
                return cred.model_copy()
        return None

    async def get_credential_by_id(self, org_id: str, credential_id: str) -> Credential | None:
        cred = self._creds.get(credential_id)
        return cred.model_copy() if cred and cred.org_id == org_id else None

    async def list_credentials(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Credential]:
        rows = sorted(
            (c for c in self._creds.values()
             if c.org_id == org_id and (cursor is None or c.id > cursor)),
            key=lambda c: c.id,
        )[: limit + 1]
        return page_of([c.model_copy() for c in rows], limit, lambda c: c.id)

    async def delete_credential(self, org_id: str, credential_id: str) -> Credential | None:
        async with self._lock:
            cred = self._creds.get(credential_id)
            if cred is None or cred.org_id != org_id:
                return None
            del self._creds[credential_id]
            self._save()
            return cred

    async def credentials_not_under(self, key_id: str, *, limit: int) -> list[Credential]:
        rows = [c for c in self._creds.values() if c.key_id != key_id]
        return [c.model_copy() for c in sorted(rows, key=lambda c: c.id)[:limit]]
