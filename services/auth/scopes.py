"""What a platform key may do. `admin` implies every other scope."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    JOBS_WRITE = "jobs:write"
    JOBS_READ = "jobs:read"
    CONFIG_READ = "config:read"
    CONFIG_WRITE = "config:write"
    RAG_WRITE = "rag:write"
    ADMIN = "admin"


ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)


def allows(granted: Iterable[str], required: Scope) -> bool:
    held = set(granted)
    return Scope.ADMIN.value in held or required.value in held
