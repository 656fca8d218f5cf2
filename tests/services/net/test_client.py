"""The guarded client connects only to checked addresses, keeps the name for Host and TLS,
never follows redirects, and times out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from services.net.client import guarded_client, pinned
from services.net.guard import NetPolicy, UnsafeTarget, check_url
from tests.webhook_support import Received, Receiver, tls_pair

LOCAL = ["127.0.0.1/32"]


class Answers:
    """A resolver hook that returns the next answer on each call (DNS rebinding)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


async def test_a_pinned_request_uses_the_checked_ip_and_keeps_the_host_name() -> None:
    resolver = Answers(["127.0.0.1"], ["10.0.0.1"])  # the second answer is the rebinding
    policy = NetPolicy.build(allow_cidrs=LOCAL, resolver=resolver)
    async with Receiver() as rx, guarded_client(policy) as client:
        target = await check_url(f"http://receiver.test:{rx.port}/hook", policy)
        with pinned(target):
            first = await client.post(target.url, content=b"1")
            second = await client.post(target.url, content=b"2")
    assert (first.status_code, second.status_code) == (200, 200)
    # One lookup in all: the connection went to the address that was checked.
    assert resolver.calls == 1
    assert [r.headers["host"] for r in rx.received] == [f"receiver.test:{rx.port}"] * 2


async def test_an_unpinned_connection_is_checked_inside_the_transport() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL, resolver=Answers(["10.0.0.1"]))
    async with Receiver() as rx, guarded_client(policy) as client:
        with pytest.raises(UnsafeTarget) as caught:
            await client.get(f"http://sneaky.test:{rx.port}/")
    assert caught.value.reason == "sneaky.test resolves to private address 10.0.0.1"
    assert rx.received == []


async def test_an_unpinned_loopback_literal_is_refused_without_the_allow_list() -> None:
    async with Receiver() as rx, guarded_client(NetPolicy.build()) as client:
        with pytest.raises(UnsafeTarget):
            await client.get(f"http://127.0.0.1:{rx.port}/")
    assert rx.received == []


async def test_redirects_are_not_followed() -> None:
    def redirect(_: Received) -> tuple[int, dict[str, str], bytes]:
        return 302, {"location": "http://169.254.169.254/latest/meta-data/"}, b""

    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver(redirect) as rx, guarded_client(policy) as client:
        response = await client.post(rx.url, content=b"{}")
    assert response.status_code == 302
    assert len(rx.received) == 1


async def test_a_slow_receiver_times_out() -> None:
    async def slow(_: Received) -> tuple[int, dict[str, str], bytes]:
        await asyncio.sleep(5)
        return 200, {}, b""

    policy = NetPolicy.build(allow_cidrs=LOCAL, read_timeout_s=0.2)
    async with Receiver(slow) as rx, guarded_client(policy) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(rx.url, content=b"{}")


async def test_tls_verifies_the_name_while_connecting_to_the_pinned_ip(tmp_path: Path) -> None:
    server_tls, client_tls = tls_pair(tmp_path, "receiver.test")
    policy = NetPolicy.build(allow_cidrs=LOCAL, resolver=Answers(["127.0.0.1"]))
    async with Receiver(tls=server_tls) as rx, guarded_client(
            policy, ssl_context=client_tls) as client:
        target = await check_url(f"https://receiver.test:{rx.port}/hook", policy)
        with pinned(target):
            response = await client.post(target.url, content=b"{}")
        assert response.status_code == 200
        # The certificate names receiver.test, not 127.0.0.1: verification used the name
        # (SNI and host check), so the same server reached by its IP fails verification.
        by_ip = await check_url(f"https://127.0.0.1:{rx.port}/hook", policy)
        with pinned(by_ip), pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post(by_ip.url, content=b"{}")
    assert [r.headers["host"] for r in rx.received] == [f"receiver.test:{rx.port}"]
