"""Every kind of configuration change leaves an audit record: who (key id), what, before
and after with secrets masked, the request id; the log can be read, never altered."""

from __future__ import annotations

from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.api.governance.support import scoped_key
from tests.platform import platform
from tests.webhook_support import webhook_platform

PROVIDER_KEY = "sk-live-0123456789abcdefSECRET"


async def test_each_kind_of_change_is_recorded_with_secrets_masked(tmp_path: Path, unique: str) -> None:
    async with webhook_platform("embedded", unique, tmp_path) as p:
        admin, admin_id = await scoped_key(p.ctx, "org-a", ["admin"])
        c = p.client
        bridge = (await c.post("/api/v1/config/bridges", headers=admin, json={"name": "Support"})).json()
        bid = bridge["id"]
        await c.patch(f"/api/v1/config/bridges/{bid}", headers=admin, json={"system_prompt": "Be brief."})
        await c.post(f"/api/v1/config/bridges/{bid}/publish", headers=admin, json={"note": "v2"})
        await c.post(f"/api/v1/config/bridges/{bid}/rollback", headers=admin, json={"version": 1})
        cred = (await c.post("/api/v1/config/apikeys", headers=admin,
                             json={"service": "openai", "api_key": PROVIDER_KEY})).json()
        await c.delete(f"/api/v1/config/apikeys/{cred['id']}", headers=admin)
        key = (await c.post("/api/v1/config/platform-keys", headers=admin, json={"name": "ci"})).json()
        await c.delete(f"/api/v1/config/platform-keys/{key['id']}", headers=admin)
        endpoint = (await c.post("/api/v1/webhooks/endpoints", headers=admin,
                                 json={"url": "http://127.0.0.1:9/in"})).json()
        await c.patch(f"/api/v1/webhooks/endpoints/{endpoint['id']}", headers=admin, json={"enabled": False})
        rotated = (await c.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret",
                                headers=admin)).json()
        await c.delete(f"/api/v1/webhooks/endpoints/{endpoint['id']}", headers=admin)
        org_secret = (await c.post("/api/v1/webhooks/secret/rotate", headers=admin)).json()["secret"]
        await c.put("/api/v1/limits/org", headers=admin, json={"daily_budget_usd": 3})
        chatbot_secret = (await c.post("/api/v1/chatbot/secret", headers=admin)).json()["secret"]
        chatbot_rotated = (await c.post("/api/v1/chatbot/secret", headers=admin)).json()["secret"]
        pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        added = await c.post("/api/v1/chatbot/public-keys", headers=admin,
                             json={"kid": "k1", "alg": "ES256", "pem": pem})
        assert added.status_code == 201, added.text
        await c.delete("/api/v1/chatbot/public-keys/k1", headers=admin)
        await c.delete("/api/v1/chatbot/secret", headers=admin)
        await c.delete(f"/api/v1/config/bridges/{bid}", headers=admin)

        records, cursor = [], None
        while True:
            page = await c.get("/api/v1/audit", headers=admin,
                               params={"limit": 4, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            records += page.json()["data"]
            if not (cursor := page.json()["next_cursor"]):
                break
        actions = [r["action"] for r in reversed(records)]
        assert actions == [
            "bridge.created", "bridge.updated", "bridge.published", "bridge.rolled_back",
            "credential.saved", "credential.deleted", "platform_key.created", "platform_key.revoked",
            "webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.secret_rotated",
            "webhook_endpoint.deleted", "webhook_secret.rotated", "limits.updated", "chatbot_secret.created",
            "chatbot_secret.rotated", "chatbot_public_key.added", "chatbot_public_key.removed",
            "chatbot_secret.deleted", "bridge.deleted",
        ]
        assert all(r["actor_key_id"] == admin_id and r["request_id"] and r["at"] > 0 for r in records)
        updated = next(r for r in records if r["action"] == "bridge.updated")
        assert updated["before"]["draft"]["system_prompt"] == ""
        assert updated["after"]["draft"]["system_prompt"] == "Be brief."
        rollback = next(r for r in records if r["action"] == "bridge.rolled_back")
        assert rollback["before"] == {"version": 2} and rollback["after"] == {"version": 1}

        dumped = orjson.dumps(records).decode()
        for secret in (PROVIDER_KEY, key["key"], endpoint["secret"], rotated["secret"], org_secret,
                       chatbot_secret, chatbot_rotated):
            assert secret not in dumped
        rotation = next(r for r in records if r["action"] == "webhook_endpoint.secret_rotated")
        assert rotation["after"]["secret"] == "..." + rotated["secret"][-4:]
        chatbot = next(r for r in records if r["action"] == "chatbot_secret.rotated")
        assert chatbot["object_type"] == "chatbot_auth" and chatbot["object_id"] == "org-a"
        assert chatbot["before"]["has_secret"] and chatbot["before"]["secret"] == "****"
        assert chatbot["after"]["secret"] == "..." + chatbot_rotated[-4:]
        key_added = next(r for r in records if r["action"] == "chatbot_public_key.added")
        assert key_added["object_id"] == "k1" and key_added["after"] == {"kid": "k1", "alg": "ES256"}

        only_bridge = (await c.get("/api/v1/audit", headers=admin, params={"object": f"bridge:{bid}"})).json()
        assert {r["object_id"] for r in only_bridge["data"]} == {bid} and len(only_bridge["data"]) == 5
        by_other = (await c.get("/api/v1/audit", headers=admin, params={"actor": "key_nobody"})).json()
        assert by_other["data"] == []
        # Another org sees none of it.
        other, _ = await scoped_key(p.ctx, "org-b", ["admin"])
        assert (await c.get("/api/v1/audit", headers=other)).json()["data"] == []


async def test_the_log_cannot_be_altered_or_read_without_admin(tmp_path: Path, unique: str) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        writer, _ = await scoped_key(p.ctx, "org-a", ["config:write", "config:read"])
        await p.client.put("/api/v1/limits/org", headers=admin, json={"requests_per_minute": 5})
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            answer = await p.client.request(method, "/api/v1/audit", headers=admin, json={})
            assert answer.status_code == 405, method
        assert (await p.client.get("/api/v1/audit", headers=writer)).status_code == 403
        bad = await p.client.get("/api/v1/audit", headers=admin, params={"cursor": "abc"})
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "cursor"
        assert len((await p.client.get("/api/v1/audit", headers=admin)).json()["data"]) == 1
