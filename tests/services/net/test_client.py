"""The guarded client connects only to checked addresses, keeps the name for Host and TLS,
reuses kept-alive connections, never follows redirects, cuts answers at the read limit, and
times out."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.net.client import GuardedClient, HttpError, HttpTimeout, PinnedResolver
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


async def test_the_checked_ip_is_used_with_the_name_as_host_and_the_connection_reused() -> None:
    # receiver.test is not in DNS: only the pinned 127.0.0.1 can reach the receiver, and the
    # second answer (a rebinding to 10.0.0.1) must never be asked for.
    resolver = Answers(["127.0.0.1"], ["10.0.0.1"])
    policy = NetPolicy.build(allow_cidrs=LOCAL, resolver=resolver)
    async with Receiver(lambda r: (201, {"x-reply": "yes"}, b"created")) as rx, \
            GuardedClient(policy, user_agent="ua-test") as http:
        target = await check_url(f"http://receiver.test:{rx.port}/in?x=1", policy)
        responses = [await http.request("POST", target, headers={"x-one": str(i)},
                                        body=b'{"n":1}', read_limit=1024) for i in range(3)]
    assert [(r.status, r.body, r.headers["X-Reply"]) for r in responses] == [
        (201, b"created", "yes")] * 3
    assert resolver.calls == 1 and rx.connections == 1
    first = rx.received[0]
    assert (first.method, first.path, first.body) == ("POST", "/in?x=1", b'{"n":1}')
    assert [r.headers["host"] for r in rx.received] == [f"receiver.test:{rx.port}"] * 3
    assert first.headers["user-agent"] == "ua-test"
    assert [r.headers["x-one"] for r in rx.received] == ["0", "1", "2"]


async def test_the_resolver_checks_a_host_that_was_not_pinned() -> None:
    resolver = PinnedResolver(NetPolicy.build(allow_cidrs=LOCAL, resolver=Answers(["10.0.0.1"])))
    with pytest.raises(UnsafeTarget) as caught:
        await resolver.resolve("sneaky.test", 80)
    assert caught.value.reason == "sneaky.test resolves to private address 10.0.0.1"
    allowed = PinnedResolver(NetPolicy.build(allow_cidrs=LOCAL, resolver=Answers(["127.0.0.1"])))
    assert [r["host"] for r in await allowed.resolve("fine.test", 80)] == ["127.0.0.1"]


async def test_a_private_address_is_refused_at_use_time_before_any_connection() -> None:
    # The name was fine when saved; at use time it resolves to a private address.
    policy = NetPolicy.build(resolver=Answers(["10.0.0.1"]))
    async with Receiver() as rx:
        with pytest.raises(UnsafeTarget):
            await check_url(f"http://hooks.test:{rx.port}/", policy)
        with pytest.raises(UnsafeTarget):
            await check_url(f"http://127.0.0.1:{rx.port}/", NetPolicy.build())
    assert rx.received == [] and rx.connections == 0


@pytest.mark.parametrize("host", ["0177.0.0.1", "2130706433", "127.1"])
async def test_numeric_hosts_that_are_not_canonical_addresses_are_refused(host: str) -> None:
    # aiohttp would connect to these without a lookup and the socket layer would read them
    # as 127.0.0.1: the guard refuses them even with loopback allow-listed.
    policy = NetPolicy.build(allow_cidrs=["0.0.0.0/0"])
    with pytest.raises(UnsafeTarget, match="not a valid URL"):
        await check_url(f"http://{host}:8080/h", policy)


async def test_a_hex_host_is_a_name_and_is_judged_by_what_it_resolves_to() -> None:
    # Not numeric to aiohttp, so it goes through the resolver: the pinned, checked answer.
    with pytest.raises(UnsafeTarget, match=r"0x7f\.0\.0\.1 resolves to loopback address 127\.0\.0\.1"):
        await check_url("http://0x7f.0.0.1:8080/h", NetPolicy.build())


async def test_a_connection_the_server_closed_is_replaced_transparently() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver(close_after_reply=True) as rx, \
            GuardedClient(policy, retry_unanswered=True) as http:
        target = await check_url(rx.url, policy)
        for pause in (0.05, 0.05, 0, 0, 0):
            # With a pause the close has arrived before the next send; without one the send
            # may go out on the closed connection and is sent again on a new one.
            response = await http.request("POST", target, body=b"{}", read_limit=1024)
            assert response.status == 200
            await asyncio.sleep(pause)
    assert len(rx.received) == 5 and rx.connections == 5


async def test_tls_verifies_the_name_while_connecting_to_the_pinned_ip(tmp_path: Path) -> None:
    server_tls, client_tls = tls_pair(tmp_path, "receiver.test")
    policy = NetPolicy.build(allow_cidrs=LOCAL, resolver=Answers(["127.0.0.1"]))
    async with Receiver(tls=server_tls) as rx, GuardedClient(policy,
                                                             ssl_context=client_tls) as http:
        named = await check_url(f"https://receiver.test:{rx.port}/hook", policy)
        assert (await http.request("POST", named, body=b"{}", read_limit=1024)).status == 200
        # The certificate names receiver.test, not 127.0.0.1: verification used the name
        # (SNI and host check), so the same server reached by its IP fails verification.
        by_ip = await check_url(f"https://127.0.0.1:{rx.port}/hook", policy)
        with pytest.raises(HttpError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.request("POST", by_ip, body=b"{}", read_limit=1024)
    assert [r.headers["host"] for r in rx.received] == [f"receiver.test:{rx.port}"]


async def test_redirects_are_returned_not_followed() -> None:
    def redirect(_: Received) -> tuple[int, dict[str, str], bytes]:
        return 302, {"location": "http://169.254.169.254/latest/meta-data/"}, b""

    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver(redirect) as rx, GuardedClient(policy) as http:
        response = await http.request("GET", await check_url(rx.url, policy), read_limit=99)
    assert response.status == 302 and len(rx.received) == 1


async def test_a_large_answer_is_cut_at_the_limit_and_the_connection_dropped() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver(lambda r: (200, {}, b"y" * 300_000)) as rx, GuardedClient(policy) as http:
        target = await check_url(rx.url, policy)
        first = await http.request("POST", target, body=b"{}", read_limit=1000)
        await http.request("POST", target, body=b"{}", read_limit=1000)
    assert (first.status, first.body, first.complete) == (200, b"y" * 1000, False)
    assert rx.connections == 2  # the half-read connection was not reused


async def test_a_slow_answer_times_out() -> None:
    async def slow(_: Received) -> tuple[int, dict[str, str], bytes]:
        await asyncio.sleep(5)
        return 200, {}, b""

    policy = NetPolicy.build(allow_cidrs=LOCAL, read_timeout_s=0.2)
    async with Receiver(slow) as rx, GuardedClient(policy) as http:
        with pytest.raises(HttpTimeout):
            await http.request("POST", await check_url(rx.url, policy), body=b"{}",
                               read_limit=10)


async def test_nothing_listening_is_a_connection_error() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver() as rx:
        url = rx.url
    async with GuardedClient(policy, retry_unanswered=True) as http:
        with pytest.raises(HttpError, match=r"Cannot connect to host 127\.0\.0\.1") as caught:
            await http.request("POST", await check_url(url, policy), body=b"{}", read_limit=10)
    assert caught.value.kind == "ClientConnectorError"


async def test_credentials_in_the_url_become_basic_auth_unless_a_header_says_otherwise() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver() as rx, GuardedClient(policy) as http:
        target = await check_url(f"http://user:pa55@127.0.0.1:{rx.port}/h", policy)
        await http.request("POST", target, body=b"{}", read_limit=10)
        await http.request("POST", target, headers={"Authorization": "Bearer t"}, body=b"{}",
                           read_limit=10)
    assert [r.headers["authorization"] for r in rx.received] == [
        "Basic " + base64.b64encode(b"user:pa55").decode(), "Bearer t"]


async def test_query_parameters_are_added_to_the_checked_url() -> None:
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    async with Receiver() as rx, GuardedClient(policy) as http:
        target = await check_url(f"http://127.0.0.1:{rx.port}/q?a=1", policy)
        await http.request("GET", target, params={"q": "a b", "n": "2"}, read_limit=10)
    assert rx.received[0].path == "/q?a=1&q=a+b&n=2"


async def test_an_unanswered_request_on_a_dropped_connection_is_sent_once_more() -> None:
    # The race the keep-alive pool cannot see: the server drops the idle connection just as
    # the next request goes out on it. Here every connection answers one request and closes
    # on the second without a reply.
    seen: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(len(seen) + 1)
        for answered in range(2):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), b"0"))
            await reader.readexactly(length)
            if answered == 0:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    policy = NetPolicy.build(allow_cidrs=LOCAL)
    target = await check_url(f"http://127.0.0.1:{port}/h", policy)
    async with server:
        async with GuardedClient(policy, retry_unanswered=True) as http:
            assert [(await http.request("POST", target, body=b"{}", read_limit=9)).body
                    for _ in range(2)] == [b"ok", b"ok"]
        async with GuardedClient(policy) as http:
            await http.request("POST", target, body=b"{}", read_limit=9)
            with pytest.raises(HttpError, match="ServerDisconnectedError"):
                await http.request("POST", target, body=b"{}", read_limit=9)
    assert seen == [1, 2, 3]
