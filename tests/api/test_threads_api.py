"""The threads and chatbot HTTP API: turns, thread reads and edits, org and end-user
scoping, the signing secret, and bad input answered 4xx naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.chatbot_support import bearer, chatbot_api, user_token
from tests.backends import BACKENDS
from tests.services.auth.keys_support import rsa_pair


@pytest.mark.parametrize("backend", BACKENDS)
async def test_turns_build_a_thread_that_the_org_can_read_edit_and_erase(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with chatbot_api(unique, tmp_path, backend=backend) as api:
        first = await api.turn(api.org_a, "my name is Ada")
        assert first.status_code == 200, first.text
        thread_id = first.json()["thread_id"]
        assert first.json()["result"]["content"] == "sim: my name is Ada"
        second = await api.turn(api.org_a, "what is my name?", thread_id=thread_id)
        assert (second.json()["thread_id"], second.json()["turn"]) == (thread_id, 2)
        # The second turn's model call saw the first turn.
        seen = [m["content"] for m in (await api.received())[-1]["messages"]]
        assert seen == ["my name is Ada", "sim: my name is Ada", "what is my name?"]

        messages = (await api.client.get(f"/api/v1/threads/{thread_id}/messages", headers=api.org_a)).json()
        assert [(m["turn"], m["role"], m["content"]) for m in messages["data"]] == [
            (1, "user", "my name is Ada"), (1, "assistant", "sim: my name is Ada"),
            (2, "user", "what is my name?"), (2, "assistant", "sim: what is my name?")]
        page = (await api.client.get(f"/api/v1/threads/{thread_id}/messages", headers=api.org_a,
                                     params={"limit": 3})).json()
        rest = (await api.client.get(f"/api/v1/threads/{thread_id}/messages", headers=api.org_a,
                                     params={"cursor": page["next_cursor"]})).json()
        assert len(page["data"]) == 3 and [m["content"] for m in rest["data"]] == ["sim: what is my name?"]

        patched = await api.client.patch(f"/api/v1/threads/{thread_id}", headers=api.org_a,
                                         json={"title": "Names", "metadata": {"ticket": 7}})
        assert (patched.json()["title"], patched.json()["metadata"]) == ("Names", {"ticket": 7})
        listed = (await api.client.get("/api/v1/threads", headers=api.org_a, params={"bridge": "support"})).json()
        assert [t["id"] for t in listed["data"]] == [thread_id]

        path = f"/api/v1/threads/{thread_id}"
        for method, suffix in (("GET", ""), ("GET", "/messages"), ("PATCH", ""), ("DELETE", "")):
            other = await api.client.request(method, path + suffix, headers=api.org_b,
                                             json={} if method == "PATCH" else None)
            assert other.status_code == 404, (method, suffix)
        assert (await api.client.get("/api/v1/threads", headers=api.org_b)).json()["data"] == []
        assert (await api.turn(api.org_b, "sneak in", thread_id=thread_id)).status_code == 404

        assert (await api.client.delete(path, headers=api.org_a)).status_code == 204
        assert (await api.client.get(path, headers=api.org_a)).status_code == 404
        assert (await api.client.get(path + "/messages", headers=api.org_a)).status_code == 404


async def test_end_users_run_turns_on_their_bridges_and_see_only_their_threads(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        secret = await api.secret()
        ada, bob = bearer(user_token(secret, sub="ada")), bearer(user_token(secret, sub="bob"))
        mine = (await api.turn(ada, "hello from ada")).json()["thread_id"]
        theirs = (await api.turn(bob, "hello from bob")).json()["thread_id"]
        assert (await api.turn(ada, "not my bridge", bridge="sales")).json()["error"]["code"] == "bridge_not_allowed"

        listed = (await api.client.get("/api/v1/threads", headers=ada, params={"user": "bob"})).json()
        assert [(t["id"], t["end_user"]) for t in listed["data"]] == [(mine, "ada")]
        assert (await api.client.get(f"/api/v1/threads/{theirs}", headers=ada)).status_code == 404
        assert (await api.client.delete(f"/api/v1/threads/{theirs}", headers=ada)).status_code == 404
        assert (await api.turn(ada, "into bob's thread", thread_id=theirs)).status_code == 404
        # The org's API key sees every end user's threads.
        everyone = (await api.client.get("/api/v1/threads", headers=api.org_a)).json()["data"]
        assert {t["id"] for t in everyone} == {mine, theirs}
        assert (await api.client.delete(f"/api/v1/threads/{mine}", headers=ada)).status_code == 204

        # End users cannot manage the org's chatbot auth: those routes take an API key only.
        assert (await api.client.post("/api/v1/chatbot/secret", headers=ada)).status_code == 401
        assert (await api.client.get("/api/v1/chatbot/auth", headers=ada)).status_code == 401


async def test_bad_tokens_are_401(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        secret_a, secret_b = await api.secret(), await api.secret(api.org_b)
        for headers in (bearer(user_token(secret_b, org="org-a")), bearer(user_token(secret_a, ttl=-60)),
                        bearer(user_token("cbs_guessed-secret-guessed-secret-guessed")), bearer("x.y.z"), {}):
            response = await api.client.get("/api/v1/threads", headers=headers)
            assert response.status_code == 401, headers
            assert secret_a not in response.text


async def test_the_secret_shows_once_and_rotation_stops_old_tokens(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        secret = await api.secret()
        status = (await api.client.get("/api/v1/chatbot/auth", headers=api.org_a)).json()
        assert status["has_secret"] and status["secret"] == f"cbs_...{secret[-4:]}" and secret not in str(status)
        old = bearer(user_token(secret))
        assert (await api.client.get("/api/v1/threads", headers=old)).status_code == 200
        rotated = await api.secret()
        assert rotated != secret
        assert (await api.client.get("/api/v1/threads", headers=old)).status_code == 401
        assert (await api.client.get("/api/v1/threads", headers=bearer(user_token(rotated)))).status_code == 200
        assert (await api.client.delete("/api/v1/chatbot/secret", headers=api.org_a)).status_code == 204
        assert (await api.client.get("/api/v1/threads", headers=bearer(user_token(rotated)))).status_code == 401
        assert (await api.client.delete("/api/v1/chatbot/secret", headers=api.org_a)).status_code == 404


async def test_browser_origins_must_be_allowed_by_the_org(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        token = user_token(await api.secret())
        shop = bearer(token, Origin="https://shop.example.com")
        refused = await api.client.get("/api/v1/threads", headers=shop)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
        put = await api.client.put("/api/v1/chatbot/origins", headers=api.org_a,
                                   json={"origins": ["https://shop.example.com"]})
        assert put.json()["allowed_origins"] == ["https://shop.example.com"]
        allowed = await api.client.get("/api/v1/threads", headers=shop)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
        preflight = await api.client.options("/api/v1/chatbot/support/messages",
                                             headers={"Origin": "https://shop.example.com",
                                                      "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and "Authorization" in preflight.headers["access-control-allow-headers"]


async def test_bad_input_is_4xx_naming_the_field(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        thread_id = (await api.turn(api.org_a, "hi")).json()["thread_id"]

        def fields(response: object) -> list[str]:
            return [f["field"] for f in response.json()["error"]["fields"]]  # type: ignore[attr-defined]

        cases = [
            (await api.client.patch(f"/api/v1/threads/{thread_id}", headers=api.org_a, json={"owner": "x"}), "owner"),
            (await api.client.patch(f"/api/v1/threads/{thread_id}", headers=api.org_a,
                                    json={"metadata": {"blob": "x" * 20_000}}), "metadata"),
            (await api.client.patch(f"/api/v1/threads/{thread_id}", headers=api.org_a, json={"title": "t" * 201}),
             "title"),
            (await api.client.post("/api/v1/chatbot/support/messages", headers=api.org_a, json={"content": ""}),
             "content"),
            (await api.client.get("/api/v1/threads", headers=api.org_a, params={"limit": 0}), "query.limit"),
            (await api.client.post("/api/v1/chatbot/public-keys", headers=api.org_a,
                                   json={"kid": "k1", "alg": "RS256", "pem": "not a key"}), "pem"),
            (await api.client.post("/api/v1/chatbot/public-keys", headers=api.org_a,
                                   json={"kid": "k1", "alg": "none", "pem": rsa_pair()[1]}), "alg"),
            (await api.client.put("/api/v1/chatbot/origins", headers=api.org_a,
                                  json={"origins": ["https://ok.example.com", "javascript:alert(1)"]}), "origins.1"),
        ]
        for response, field in cases:
            assert response.status_code == 422, (field, response.text)
            assert field in fields(response), (field, response.text)
        bad_cursor = await api.client.get(f"/api/v1/threads/{thread_id}/messages", headers=api.org_a,
                                          params={"cursor": "nonsense"})
        assert bad_cursor.status_code == 422 and fields(bad_cursor) == ["cursor"]
        assert (await api.client.post("/api/v1/chatbot/public-keys", headers=api.org_a,
                                      json={"kid": "k1", "alg": "RS256", "pem": rsa_pair()[1]})).status_code == 201


async def test_turns_on_one_thread_are_limited_per_minute(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path, backend="real") as api:
        made = await api.client.post("/api/v1/config/bridges", headers=api.org_a, json={
            "name": "tight", "slug": "tight", "type": "chatbot", "provider": "vllm", "model": api.model,
            "limits": {"per_thread": {"requests_per_minute": 1}}})
        assert made.status_code == 201, made.text
        # The turn that opens a thread is counted on the bridge and user, not on a thread yet.
        first = await api.turn(api.org_a, "one", bridge="tight")
        thread_id = first.json()["thread_id"]
        second = await api.turn(api.org_a, "two", bridge="tight", thread_id=thread_id)
        third = await api.turn(api.org_a, "three", bridge="tight", thread_id=thread_id)
        other = await api.turn(api.org_a, "elsewhere", bridge="tight")
        assert (first.status_code, second.status_code, third.status_code, other.status_code) == (200, 200, 429, 200)
        assert int(third.headers["Retry-After"]) >= 1 and "RateLimit" in third.headers
        # The refused turn left no message and no gap: the thread goes on at turn 3 later.
        listed = await api.client.get(f"/api/v1/threads/{thread_id}/messages", headers=api.org_a)
        assert [m["content"] for m in listed.json()["data"]] == ["one", "sim: one", "two", "sim: two"]
