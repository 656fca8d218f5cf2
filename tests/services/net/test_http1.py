"""The delivery HTTP client: pinned connects with the name kept for Host and TLS, keep-alive
reuse, recovery from a server-closed idle connection, limits, timeouts, no redirects."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.net.guard import NetPolicy, check_url
from services.net.http1 import HttpError, HttpTimeout, PinnedHttp1Client
from tests.webhook_support import Received, Receiver, tls_pair

LOCAL = ["127.0.0.1/32"]


async def only_loopback(host: str, port: int) -> Sequence[str]:
    return ["127.0.0.1"] if host == "receiver.test" else []


async def test_posts_to_the_pinned_ip_with_the_name_as_host_and_reuses_the_connection() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL, resolver=only_loopback)
    client = PinnedHttp1Client(policy, user_agent="ua-test")
    async with Receiver(lambda r: (201, {"x-reply": "yes"}, b"created")) as rx:
        target = await check_url(f"http://receiver.test:{rx.port}/in?x=1", policy)
        responses = [await client.post(target, {"x-one": str(i)}, b'{"n":1}', read_limit=1024)
                     for i in range(3)]
        await client.aclose()
    assert [(r.status, r.body, r.headers["x-reply"]) for r in responses] == [
        (201, b"created", "yes")] * 3
    assert rx.connections == 1
    first = rx.received[0]
    assert (first.method, first.path, first.body) == ("POST", "/in?x=1", b'{"n":1}')
    assert first.headers["host"] == f"receiver.test:{rx.port}"
    assert first.headers["user-agent"] == "ua-test"
    assert [r.headers["x-one"] for r in rx.received] == ["0", "1", "2"]


async def test_a_connection_the_server_closed_is_replaced_transparently() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    client = PinnedHttp1Client(policy)
    async with Receiver(close_after_reply=True) as rx:
        target = await check_url(rx.url, policy)
        for pause in (0.05, 0.05, 0, 0, 0):
            # With a pause the close has arrived before the next send; without one the send
            # goes out on the closed connection and is retried on a new one.
            assert (await client.post(target, {}, b"{}", read_limit=1024)).status == 200
            await asyncio.sleep(pause)
        await client.aclose()
    assert len(rx.received) == 5 and rx.connections == 5


async def test_tls_uses_the_name_for_sni_and_verification(tmp_path: Path) -> None:
    server_tls, client_tls = tls_pair(tmp_path, "receiver.test")
    policy = NetPolicy.build(allow_cidrs=LOCAL, resolver=only_loopback)
    client = PinnedHttp1Client(policy, ssl_context=client_tls)
    async with Receiver(tls=server_tls) as rx:
        named = await check_url(f"https://receiver.test:{rx.port}/hook", policy)
        assert (await client.post(named, {}, b"{}", read_limit=1024)).status == 200
        by_ip = await check_url(f"https://127.0.0.1:{rx.port}/hook", policy)
        with pytest.raises(HttpError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post(by_ip, {}, b"{}", read_limit=1024)
        await client.aclose()
    assert [r.headers["host"] for r in rx.received] == [f"receiver.test:{rx.port}"]


async def test_redirects_are_returned_not_followed() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    client = PinnedHttp1Client(policy)
    async with Receiver(lambda r: (302, {"location": "http://10.0.0.1/"}, b"")) as rx:
        response = await client.post(await check_url(rx.url, policy), {}, b"{}", read_limit=99)
        await client.aclose()
    assert response.status == 302 and len(rx.received) == 1


async def test_a_large_answer_is_cut_at_the_limit_and_the_connection_dropped() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    client = PinnedHttp1Client(policy)
    async with Receiver(lambda r: (200, {}, b"y" * 300_000)) as rx:
        target = await check_url(rx.url, policy)
        first = await client.post(target, {}, b"{}", read_limit=1000)
        await client.post(target, {}, b"{}", read_limit=1000)
        await client.aclose()
    assert first.status == 200 and first.body == b"y" * 1000
    assert rx.connections == 2  # the half-read connection was not reused


async def test_a_slow_answer_times_out() -> None:
    async def slow(_: Received) -> tuple[int, dict[str, str], bytes]:
        await asyncio.sleep(5)
        return 200, {}, b""

    policy = NetPolicy.build(allow_cidrs=LOCAL, read_timeout_s=0.2)
    client = PinnedHttp1Client(policy)
    async with Receiver(slow) as rx:
        with pytest.raises(HttpTimeout):
            await client.post(await check_url(rx.url, policy), {}, b"{}", read_limit=10)
        await client.aclose()


async def test_nothing_listening_is_a_connection_error() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver() as rx:
        url = rx.url
    with pytest.raises(HttpError, match=r"connect to 127\.0\.0\.1 failed"):
        await PinnedHttp1Client(policy).post(await check_url(url, policy), {}, b"{}",
                                             read_limit=10)


async def test_credentials_in_the_url_become_basic_auth() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    client = PinnedHttp1Client(policy)
    async with Receiver() as rx:
        target = await check_url(f"http://user:pa55@127.0.0.1:{rx.port}/h", policy)
        await client.post(target, {}, b"{}", read_limit=10)
        await client.aclose()
    assert rx.received[0].headers["authorization"] == "Basic " + base64.b64encode(
        b"user:pa55").decode()
