"""Who is calling: an API key (the whole org) or an end user of an embedded chatbot.

An end user comes from a JWT the org's backend signed (services/auth/enduser/tokens.py):
they may run turns only on the bridges their token names and see only their own threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.errors import Forbidden

ANY_BRIDGE = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: str
    # The JWT's `sub`; None for an API key, which sees every thread of its org.
    end_user: str | None = None
    # Bridge ids or slugs the token allows ("*": all); None for an API key (all).
    bridges: frozenset[str] | None = None
    # When the token expires (epoch seconds); None for an API key.
    expires_at: float | None = None

    @property
    def is_end_user(self) -> bool:
        return self.end_user is not None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    def allows(self, *bridge_refs: str | None) -> bool:
        """True when any of the bridge's names (id, slug) is allowed."""
        if self.bridges is None or ANY_BRIDGE in self.bridges:
            return True
        return any(ref in self.bridges for ref in bridge_refs if ref)

    def require_bridge(self, *bridge_refs: str | None) -> None:
        if not self.allows(*bridge_refs):
            raise Forbidden("this token does not allow that bridge", code="bridge_not_allowed")

    def require_org_key(self) -> None:
        """Refuse end users (org administration needs the org's API key)."""
        if self.is_end_user:
            raise Forbidden("this call needs the org's API key", code="api_key_required")
