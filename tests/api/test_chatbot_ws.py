"""The chatbot WebSocket protocol, with a real websocket client against uvicorn: frames,
heartbeats, auth close codes, the per-user socket bound and bad frames answered in band."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.api.chatbot_support import ChatbotApi, chatbot_api, user_token


async def recv(ws: ClientConnection, *, skip_heartbeats: bool = True) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if not (skip_heartbeats and frame["type"] == "heartbeat"):
            return frame


async def closed_with(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def until_done(ws: ClientConnection, reply_to: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await recv(ws)
        assert frame.get("reply_to") == reply_to, frame
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


async def open_socket(api: ChatbotApi, token: str, **headers: str) -> ClientConnection:
    return await connect(f"{api.ws_url}?token={token}", additional_headers=headers or None)


async def test_a_conversation_over_one_socket(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        token = user_token(await api.secret(), sub="ada")
        async with await open_socket(api, token) as ws:
            ready = await recv(ws)
            assert (ready["type"], ready["org"], ready["user"]) == ("ready", "org-a", "ada")
            await ws.send(orjson.dumps({"type": "message", "id": "c1", "bridge": "support", "content": "hi there"}))
            frames = await until_done(ws, "c1")
            assert frames[0]["type"] == "thread" and frames[0]["turn"] == 1
            assert "".join(f["delta"] for f in frames if f["type"] == "chunk").strip() == "sim: hi there"
            assert frames[-1]["result"]["content"] == "sim: hi there"
            thread_id = frames[0]["thread_id"]
            await ws.send(orjson.dumps({"type": "message", "id": "c2", "bridge": "support", "thread_id": thread_id,
                                        "content": "and again"}))
            assert (await until_done(ws, "c2"))[0] == {"type": "thread", "reply_to": "c2", "thread_id": thread_id,
                                                        "turn": 2}
            await ws.send(orjson.dumps({"type": "ping"}))
            assert await recv(ws) == {"type": "pong"}
        # What the socket said is in the thread, and the end user can read it back.
        listed = await api.client.get(f"/api/v1/threads/{thread_id}/messages",
                                      headers={"Authorization": f"Bearer {token}"})
        assert [m["content"] for m in listed.json()["data"]] == [
            "hi there", "sim: hi there", "and again", "sim: and again"]


async def test_bad_frames_are_answered_in_band_and_the_socket_stays_open(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        async with await open_socket(api, user_token(await api.secret(), bridges=["support"])) as ws:
            await recv(ws)
            await ws.send("not json")
            assert (await recv(ws))["fields"] == [{"field": "body", "reason": "not JSON"}]
            await ws.send(orjson.dumps({"type": "message", "id": "c1", "bridge": "support", "content": ""}))
            error = await recv(ws)
            assert error["code"] == "invalid_message" and [f["field"] for f in error["fields"]] == ["content"]
            await ws.send(orjson.dumps({"type": "subscribe"}))
            assert (await recv(ws))["fields"][0]["field"] == "type"
            await ws.send(orjson.dumps({"type": "message", "id": "c2", "bridge": "sales", "content": "hello"}))
            refused = await until_done(ws, "c2")
            assert refused[-1]["type"] == "error" and refused[-1]["code"] == "bridge_not_allowed"
            await ws.send(orjson.dumps({"type": "message", "id": "c3", "bridge": "support", "content": "still here"}))
            assert (await until_done(ws, "c3"))[-1]["type"] == "done"


async def test_a_browser_authenticates_with_its_first_frame(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        token = user_token(await api.secret(), sub="ada")
        async with connect(api.ws_url) as ws:
            await ws.send(orjson.dumps({"type": "auth", "token": token}))
            assert (await recv(ws))["user"] == "ada"
        async with connect(api.ws_url) as ws:
            await ws.send(orjson.dumps({"type": "message", "id": "c1", "bridge": "support", "content": "hi"}))
            assert await closed_with(ws) == 4401


@pytest.mark.parametrize("case", ["no_token", "garbage", "other_org", "expired"])
async def test_authentication_failures_close_with_4401(unique: str, tmp_path: Path, case: str) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        secret_a, secret_b = await api.secret(), await api.secret(api.org_b)
        url = {
            "no_token": api.ws_url,
            "garbage": f"{api.ws_url}?token=a.b.c",
            "other_org": f"{api.ws_url}?token={user_token(secret_b, org='org-a')}",
            "expired": f"{api.ws_url}?token={user_token(secret_a, ttl=-60)}",
        }[case]
        async with connect(url) as ws:
            if case == "no_token":
                await ws.send(orjson.dumps({"type": "auth"}))
            assert await closed_with(ws) == 4401


async def test_a_token_expiring_while_open_closes_the_socket_with_4401(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        async with await open_socket(api, user_token(await api.secret(), ttl=1.5)) as ws:
            assert (await recv(ws))["type"] == "ready"
            assert await closed_with(ws) == 4401


async def test_heartbeats_flow_and_a_silent_client_is_dropped(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path, ws_heartbeat_s=0.2, ws_idle_timeout_s=1.0) as api:
        async with await open_socket(api, user_token(await api.secret())) as ws:
            await recv(ws)
            assert await recv(ws, skip_heartbeats=False) == {"type": "heartbeat"}
            assert await closed_with(ws) == 4408


async def test_sockets_per_end_user_are_bounded(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path, ws_max_per_user=2) as api:
        secret = await api.secret()
        ada = user_token(secret, sub="ada")
        first, second = await open_socket(api, ada), await open_socket(api, ada)
        for ws in (first, second):
            assert (await recv(ws))["type"] == "ready"
        async with await open_socket(api, ada) as third:
            assert await closed_with(third) == 4429
        async with await open_socket(api, user_token(secret, sub="bob")) as bob:
            assert (await recv(bob))["type"] == "ready"  # another user is not affected
        await first.close()
        # The server frees the slot once it has seen the close; until then a new socket is refused.
        for _ in range(50):
            async with await open_socket(api, ada) as again:
                try:
                    frame = orjson.loads(await again.recv())
                except ConnectionClosed:
                    frame = {"type": "closed"}
                if frame["type"] == "ready":
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("a closed socket's slot was never freed")
        await second.close()


async def test_an_origin_the_org_did_not_allow_closes_with_4403(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path) as api:
        token = user_token(await api.secret())
        async with await open_socket(api, token, Origin="https://evil.example.com") as ws:
            assert await closed_with(ws) == 4403
        await api.client.put("/api/v1/chatbot/origins", headers=api.org_a,
                             json={"origins": ["https://shop.example.com"]})
        async with await open_socket(api, token, Origin="https://shop.example.com") as ws:
            assert (await recv(ws))["type"] == "ready"


async def test_three_turns_with_a_reconnect_continue_one_thread(unique: str, tmp_path: Path) -> None:
    async with chatbot_api(unique, tmp_path, backend="real") as api:
        token = user_token(await api.secret(), sub="ada")
        async with await open_socket(api, token) as ws:
            await recv(ws)
            await ws.send(orjson.dumps({"type": "message", "id": "t1", "bridge": "support", "content": "one"}))
            thread_id = (await until_done(ws, "t1"))[0]["thread_id"]
            await ws.send(orjson.dumps({"type": "message", "id": "t2", "bridge": "support",
                                        "thread_id": thread_id, "content": "two"}))
            await until_done(ws, "t2")
        # The client drops and comes back on a new socket: the thread goes on where it was.
        async with await open_socket(api, token) as ws:
            await recv(ws)
            await ws.send(orjson.dumps({"type": "message", "id": "t3", "bridge": "support",
                                        "thread_id": thread_id, "content": "three"}))
            frames = await until_done(ws, "t3")
        assert (frames[0]["thread_id"], frames[0]["turn"]) == (thread_id, 3)
        assert frames[-1]["result"]["content"] == "sim: three"
        # The third model call carried both earlier turns.
        seen = [m["content"] for m in (await api.received())[-1]["messages"]]
        assert seen == ["one", "sim: one", "two", "sim: two", "three"]
