"""The configuration API as an integrator uses it: bridges, versions, provider credentials,
services and platform keys, all scoped to the caller's org."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.platform import Platform, platform

SECRET = "sk-proj-CONFIG-API-SECRET-7781"


@pytest.fixture
async def p(unique: str, tmp_path: Path) -> Any:
    async with platform("embedded", unique, tmp_path, workers=False) as running:
        yield running


def bridge_body(**kw: Any) -> dict[str, Any]:
    return {"name": "Support", "provider": "openai", "model": "gpt-4o-mini",
            "system_prompt": "You help {{customer}}.",
            "variables": [{"name": "customer", "required": True}], **kw}


async def test_bridge_lifecycle_over_http(p: Platform) -> None:
    c, a = p.client, p.org_a
    created = await c.post("/api/v1/config/bridges", json=bridge_body(), headers=a)
    assert created.status_code == 201, created.text
    bridge = created.json()
    assert bridge["slug"] == "support" and bridge["published_version"] == 1
    bid = bridge["id"]
    edited = await c.patch(f"/api/v1/config/bridges/{bid}", headers=a,
                           json={"system_prompt": "Be brief with {{customer}}."})
    assert edited.status_code == 200 and edited.json()["published_version"] == 1
    assert edited.json()["draft"]["system_prompt"] == "Be brief with {{customer}}."
    published = await c.post(f"/api/v1/config/bridges/{bid}/publish", headers=a,
                             json={"note": "shorter"})
    assert published.status_code == 201 and published.json()["version"] == 2
    versions = (await c.get(f"/api/v1/config/bridges/{bid}/versions?limit=1", headers=a)).json()
    assert [v["version"] for v in versions["data"]] == [2] and versions["next_cursor"] == "2"
    older = (await c.get(f"/api/v1/config/bridges/{bid}/versions?limit=1&cursor=2",
                         headers=a)).json()
    assert [v["version"] for v in older["data"]] == [1] and older["next_cursor"] is None
    v1 = (await c.get(f"/api/v1/config/bridges/{bid}/versions/1", headers=a)).json()
    assert v1["spec"]["system_prompt"] == "You help {{customer}}."
    rolled = await c.post(f"/api/v1/config/bridges/{bid}/rollback", json={"version": 1}, headers=a)
    assert rolled.status_code == 200 and rolled.json()["published_version"] == 1
    assert (await c.delete(f"/api/v1/config/bridges/{bid}", headers=a)).status_code == 204
    assert (await c.get(f"/api/v1/config/bridges/{bid}", headers=a)).status_code == 404
    assert (await c.get("/api/v1/config/bridges", headers=a)).json()["data"] == []


async def test_bridges_page_with_cursors(p: Platform) -> None:
    for i in range(5):
        r = await p.client.post("/api/v1/config/bridges", headers=p.org_a,
                                json=bridge_body(name=f"b{i}"))
        assert r.status_code == 201
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await p.client.get("/api/v1/config/bridges", params=params, headers=p.org_a)).json()
        seen += [b["slug"] for b in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"b{i}" for i in range(5)]
    bad = await p.client.get("/api/v1/config/bridges?cursor=x';--", headers=p.org_a)
    assert bad.status_code == 422


@pytest.mark.parametrize(("change", "field"), [
    ({"provider": "nobody"}, "provider"),
    ({"model": "gpt-404"}, "model"),
    ({"fallbacks": [{"provider": "anthropic", "model": "claude-0"}]}, "fallbacks[0]"),
    ({"tools": [{"name": "t", "parameters": {"type": "object", "properties": ["q"]}}]},
     "tools[0].parameters"),
    ({"tools": [{"name": "t", "parameters": {"type": "object", "properties": {},
                                            "required": ["q"]}}]}, "tools[0].parameters"),
    ({"system_prompt": "Hi {{nobody}}"}, "system_prompt"),
])
async def test_invalid_bridges_are_422_on_save(
    p: Platform, change: dict[str, Any], field: str,
) -> None:
    c, a = p.client, p.org_a
    created = await c.post("/api/v1/config/bridges", json=bridge_body(**change), headers=a)
    assert created.status_code == 422, created.text
    assert created.json()["error"]["fields"][0]["field"] == field
    good = (await c.post("/api/v1/config/bridges", json=bridge_body(), headers=a)).json()
    url = f"/api/v1/config/bridges/{good['id']}"
    edit = await c.patch(url, json=change, headers=a)
    assert edit.status_code == 422
    assert edit.json()["error"]["fields"][0]["field"] == field
    assert (await c.get(url, headers=a)).json()["draft"] == good["draft"]


async def test_slug_conflict_is_409(p: Platform) -> None:
    assert (await p.client.post("/api/v1/config/bridges", json=bridge_body(),
                                headers=p.org_a)).status_code == 201
    again = await p.client.post("/api/v1/config/bridges", json=bridge_body(), headers=p.org_a)
    assert again.status_code == 409 and again.json()["error"]["code"] == "slug_taken"
    theirs = await p.client.post("/api/v1/config/bridges", json=bridge_body(), headers=p.org_b)
    assert theirs.status_code == 201


async def test_another_orgs_bridge_and_credentials_are_404(p: Platform) -> None:
    c, a, b = p.client, p.org_a, p.org_b
    bid = (await c.post("/api/v1/config/bridges", json=bridge_body(), headers=a)).json()["id"]
    cid = (await c.post("/api/v1/config/apikeys", headers=a,
                        json={"service": "openai", "api_key": SECRET})).json()["id"]
    base = f"/api/v1/config/bridges/{bid}"
    for method, url, body in [
        ("GET", base, None), ("PATCH", base, {"name": "x"}), ("DELETE", base, None),
        ("GET", f"{base}/versions", None), ("GET", f"{base}/versions/1", None),
        ("POST", f"{base}/publish", None), ("POST", f"{base}/rollback", {"version": 1}),
        ("GET", f"/api/v1/config/apikeys/{cid}", None),
        ("DELETE", f"/api/v1/config/apikeys/{cid}", None),
    ]:
        response = await c.request(method, url, json=body, headers=b)
        assert response.status_code == 404, (method, url, response.text)
    assert (await c.get("/api/v1/config/bridges", headers=b)).json()["data"] == []
    assert (await c.get("/api/v1/config/apikeys", headers=b)).json()["data"] == []
    assert (await c.get(base, headers=a)).json()["name"] == "Support"


async def test_credentials_are_masked_and_never_returned(p: Platform) -> None:
    c, a = p.client, p.org_a
    responses = [await c.post("/api/v1/config/apikeys", headers=a,
                              json={"service": "openai", "api_key": SECRET, "name": "prod"})]
    saved = responses[0].json()
    assert responses[0].status_code == 201 and saved["masked_key"] == "sk-...7781"
    responses.append(await c.get("/api/v1/config/apikeys", headers=a))
    responses.append(await c.get(f"/api/v1/config/apikeys/{saved['id']}", headers=a))
    assert responses[1].json()["data"][0]["masked_key"] == "sk-...7781"
    for r in responses:
        assert SECRET not in r.text and "CONFIG-API" not in r.text
    unknown = await c.post("/api/v1/config/apikeys", headers=a,
                           json={"service": "openia", "api_key": SECRET})
    assert unknown.status_code == 422 and SECRET not in unknown.text
    assert (await c.delete(f"/api/v1/config/apikeys/{saved['id']}", headers=a)).status_code == 204
    assert (await c.get("/api/v1/config/apikeys", headers=a)).json()["data"] == []


async def test_services_and_their_models_with_prices(p: Platform) -> None:
    services = (await p.client.get("/api/v1/config/services", headers=p.org_a)).json()["data"]
    names = {s["service"] for s in services}
    assert {"openai", "anthropic", "groq", "mistral", "mock"} <= names and "sim" not in names
    models = (await p.client.get("/api/v1/config/services/openai/models",
                                 headers=p.org_a)).json()["data"]
    mini = next(m for m in models if m["model"] == "gpt-4o-mini")
    assert mini["input_usd_per_mtok"] > 0 and mini["output_usd_per_mtok"] > 0
    assert all(m["kind"] == "chat" for m in models)
    assert (await p.client.get("/api/v1/config/services/nobody/models",
                               headers=p.org_a)).status_code == 404
    assert (await p.client.get("/api/v1/config/services")).status_code == 401


async def test_platform_keys_create_list_revoke(p: Platform) -> None:
    c, a = p.client, p.org_a
    created = await c.post("/api/v1/config/platform-keys", json={"name": "ci"}, headers=a)
    assert created.status_code == 201
    raw = created.json()["key"]
    mine = {"Authorization": f"Bearer {raw}"}
    assert (await c.get("/api/v1/config/bridges", headers=mine)).status_code == 200
    listed = await c.get("/api/v1/config/platform-keys", headers=a)
    assert raw not in listed.text
    assert created.json()["id"] in {k["id"] for k in listed.json()["data"]}
    first = (await c.get("/api/v1/config/platform-keys?limit=1", headers=a)).json()
    assert len(first["data"]) == 1 and first["next_cursor"]
    kid = created.json()["id"]
    url = f"/api/v1/config/platform-keys/{kid}"
    assert (await c.delete(url, headers=p.org_b)).status_code == 404
    assert (await c.delete(url, headers=a)).status_code == 204
    revoked = [k for k in (await c.get("/api/v1/config/platform-keys", headers=a)).json()["data"]
               if k["id"] == kid]
    assert revoked[0]["revoked"] is True
