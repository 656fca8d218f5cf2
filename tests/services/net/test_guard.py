"""The outbound guard refuses internal targets (with the reason) and allows what it should."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.net.guard import NetPolicy, ResolveFailed, UnsafeTarget, address_problem, check_url


def resolver_for(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A resolver hook standing in for DNS (none is reachable from this machine)."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return table.get(host, [])

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1/hook", "loopback address 127.0.0.1"),
    ("http://127.9.9.9:8080/", "loopback address 127.9.9.9"),
    ("http://[::1]/hook", "loopback address ::1"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata address 169.254.169.254"),
    ("http://[fd00:ec2::254]/", "cloud metadata address fd00:ec2::254"),
    ("http://100.100.100.200/", "cloud metadata address 100.100.100.200"),
    ("http://169.254.1.1/", "link-local address 169.254.1.1"),
    ("http://[fe80::1]/", "link-local address fe80::1"),
    ("http://10.0.0.1/", "private address 10.0.0.1"),
    ("http://172.16.5.4/", "private address 172.16.5.4"),
    ("http://192.168.1.1/", "private address 192.168.1.1"),
    ("http://[fd12:3456::1]/", "unique-local address fd12:3456::1"),
    ("http://224.0.0.1/", "multicast address 224.0.0.1"),
    ("http://[ff02::1]/", "multicast address ff02::1"),
    ("http://0.0.0.0/", "unspecified address 0.0.0.0"),
    ("http://[::]/", "unspecified address ::"),
    ("http://240.0.0.1/", "reserved address 240.0.0.1"),
    ("http://100.64.0.1/", "non-public address 100.64.0.1"),
    # IPv4 hidden inside IPv6: mapped, NAT64 and 6to4.
    ("http://[::ffff:127.0.0.1]/", "loopback address 127.0.0.1 (embedded in ::ffff:7f00:1)"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata address 169.254.169.254 (embedded"),
    ("http://[64:ff9b::a00:1]/", "private address 10.0.0.1 (embedded"),
    ("http://[2002:a00:1::]/", "private address 10.0.0.1 (embedded"),
    ("http://metadata.google.internal/", "cloud metadata host"),
    ("http://anything.localhost/", "loopback host name"),
])
async def test_internal_targets_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeTarget) as caught:
        await check_url(url, NetPolicy.build())
    assert reason in caught.value.reason


async def test_localhost_is_refused_after_resolution() -> None:
    # `localhost` resolves through /etc/hosts (no DNS needed) to a loopback address.
    with pytest.raises(UnsafeTarget) as caught:
        await check_url("http://localhost:8000/hook", NetPolicy.build())
    assert caught.value.reason.startswith("localhost resolves to loopback address")


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = resolver_for({"hooks.example.com": ["10.1.2.3"]})
    with pytest.raises(UnsafeTarget) as caught:
        await check_url("https://hooks.example.com/x", NetPolicy.build(resolver=resolver))
    assert caught.value.reason == "hooks.example.com resolves to private address 10.1.2.3"


async def test_one_bad_address_among_good_ones_refuses_the_name() -> None:
    resolver = resolver_for({"mixed.example.com": ["93.184.216.34", "::ffff:10.0.0.7"]})
    with pytest.raises(UnsafeTarget) as caught:
        await check_url("https://mixed.example.com/", NetPolicy.build(resolver=resolver))
    assert "private address 10.0.0.7" in caught.value.reason


async def test_a_public_name_resolves_to_its_checked_addresses() -> None:
    resolver = resolver_for({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    target = await check_url("https://Hooks.Example.com/in?a=1",
                             NetPolicy.build(resolver=resolver))
    assert (target.host, target.port, target.scheme) == ("hooks.example.com", 443, "https")
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1::1")


async def test_a_name_that_does_not_resolve_is_a_retryable_failure() -> None:
    with pytest.raises(ResolveFailed):
        await check_url("https://nowhere.example/", NetPolicy.build(resolver=resolver_for({})))


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://example.com/", "scheme 'ftp' is not http or https"),
    ("file:///etc/passwd", "scheme 'file' is not http or https"),
    ("http:///nohost", "URL has no host"),
])
async def test_only_http_urls_with_a_host(url: str, reason: str) -> None:
    with pytest.raises(UnsafeTarget) as caught:
        await check_url(url, NetPolicy.build())
    assert caught.value.reason == reason


async def test_https_is_required_when_the_policy_says_so() -> None:
    policy = NetPolicy.build(require_https=True, resolver=resolver_for({"a.example": ["8.8.8.8"]}))
    with pytest.raises(UnsafeTarget) as caught:
        await check_url("http://a.example/", policy)
    assert caught.value.reason == "https is required"
    assert (await check_url("https://a.example/", policy)).port == 443


async def test_the_allow_list_admits_named_hosts_and_cidrs() -> None:
    by_cidr = NetPolicy.build(allow_cidrs=["127.0.0.1/32"])
    assert (await check_url("http://127.0.0.1:9/x", by_cidr)).addresses == ("127.0.0.1",)
    with pytest.raises(UnsafeTarget):
        await check_url("http://127.0.0.2/", by_cidr)
    by_host = NetPolicy.build(allow_hosts=["receiver.internal"],
                              resolver=resolver_for({"receiver.internal": ["10.9.8.7"]}))
    assert (await check_url("http://receiver.internal/", by_host)).addresses == ("10.9.8.7",)


async def test_metadata_addresses_stay_refused_even_when_allow_listed() -> None:
    policy = NetPolicy.build(allow_cidrs=["0.0.0.0/0", "::/0"])
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://100.100.100.200/"):
        with pytest.raises(UnsafeTarget) as caught:
            await check_url(url, policy)
        assert "cloud metadata address" in caught.value.reason
    assert (await check_url("http://10.0.0.1/", policy)).addresses == ("10.0.0.1",)


def test_public_addresses_have_no_problem() -> None:
    import ipaddress

    for text in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert address_problem(ipaddress.ip_address(text)) is None
