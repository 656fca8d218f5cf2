"""Every route of the OpenAPI document needs the scope api/scopes.py names for it: a key
lacking it gets 403, a key holding only it passes the check; no route is left unmapped."""

from __future__ import annotations

import re
import time
from pathlib import Path

from api.app import create_app
from api.scopes import ROUTE_SCOPES
from services.auth.scopes import ALL_SCOPES, Scope
from tests.api.governance.support import scoped_key
from tests.backends import make_settings
from tests.platform import platform

# Routes served but kept out of the OpenAPI document.
UNDOCUMENTED = {("GET", "/metrics")}
SAMPLE = {"job_id": "job_0", "bridge_id": "br_0", "version": "1", "subject": "org", "subject_id": "key_0",
          "service": "openai", "credential_id": "cred_0", "endpoint_id": "we_0", "delivery_id": "dlv_0",
          "key_id": "key_0"}


def documented_routes() -> list[tuple[str, str]]:
    app = create_app(make_settings("embedded", "scopes", Path("/tmp")))
    return [(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops]


def test_every_route_has_a_scope_and_every_entry_a_route() -> None:
    routes = documented_routes()
    unmapped = [r for r in routes if r not in ROUTE_SCOPES]
    assert not unmapped, "routes without a scope; add each to ROUTE_SCOPES in api/scopes.py: " + ", ".join(
        f'("{m}", "{p}"): Scope.<scope>' for m, p in unmapped)
    stale = [r for r in ROUTE_SCOPES if r not in routes and r not in UNDOCUMENTED]
    assert not stale, f"ROUTE_SCOPES in api/scopes.py names routes the app does not serve: {stale}"


async def test_a_key_lacking_each_scope_is_refused_on_every_route(tmp_path: Path, unique: str) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        keys = {}
        for scope in Scope:
            lacking = [s for s in ALL_SCOPES if s not in (scope.value, Scope.ADMIN.value)]
            keys[scope] = ((await scoped_key(p.ctx, "org-a", lacking))[0],
                           (await scoped_key(p.ctx, "org-a", [scope.value]))[0])
        checked = 0
        for method, path in documented_routes():
            required = ROUTE_SCOPES[(method, path)]
            url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE.get(m.group(1), "x"), path)
            body: dict[str, str] | None = {} if method in ("POST", "PUT", "PATCH") else None
            if required is None:
                answer = await p.client.request(method, url, json=body)
                assert answer.status_code not in (401, 403), (method, path, answer.text)
                continue
            without, holding = keys[required]
            refused = await p.client.request(method, url, json=body, headers=without)
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["error"]["code"] == "insufficient_scope"
            assert refused.json()["error"]["scope"] == required.value
            allowed = await p.client.request(method, url, json=body, headers=holding)
            assert allowed.status_code != 403, (method, path, allowed.text)
            checked += 1
        assert checked >= 40


async def test_no_key_is_401_and_an_expired_key_is_refused(tmp_path: Path, unique: str) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        assert (await p.client.get("/api/v1/jobs")).status_code == 401
        expiring, _ = await scoped_key(p.ctx, "org-a", expires_at=time.time() + 0.3)
        assert (await p.client.get("/api/v1/jobs", headers=expiring)).status_code == 200
        time.sleep(0.4)
        refused = await p.client.get("/api/v1/jobs", headers=expiring)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_expired"


async def test_keys_report_scopes_usage_and_last_use(tmp_path: Path, unique: str) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        created = await p.client.post("/api/v1/config/platform-keys", headers=admin,
                                      json={"name": "reader", "scopes": ["jobs:read"]})
        assert created.status_code == 201 and created.json()["scopes"] == ["jobs:read"]
        reader = {"Authorization": f"Bearer {created.json()['key']}"}
        for _ in range(3):
            assert (await p.client.get("/api/v1/jobs", headers=reader)).status_code == 200
        assert (await p.client.post("/api/v1/jobs", headers=reader, json={})).status_code == 403
        listed = (await p.client.get("/api/v1/config/platform-keys", headers=admin)).json()["data"]
        mine = next(k for k in listed if k["id"] == created.json()["id"])
        assert mine["usage_count"] == 4 and mine["last_used_at"] > time.time() - 60
        bad = await p.client.post("/api/v1/config/platform-keys", headers=admin, json={"scopes": ["root"]})
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"].startswith("scopes")
