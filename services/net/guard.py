"""Outbound-request guard: refuse internal targets, then connect only to what was checked.

Used for webhooks and any other URL an integrator gives us (tool calls). Three steps:

1. `check_url(url, policy)` parses the URL (http/https only; https only in production),
   resolves the host (the loop's getaddrinfo, or `policy.resolver`), and refuses the target if
   ANY address is loopback, private, link-local, unique-local, multicast, unspecified,
   reserved, shared (100.64/10, carrier NAT) or a cloud metadata address, in IPv4 or IPv6,
   including IPv4 embedded in IPv6 (mapped ::ffff:a.b.c.d, NAT64, 6to4, Teredo). One bad
   address is enough: an attacker controls the whole record set.
2. `GuardedClient.request(target)` (services/net/client.py) connects only to those
   addresses while the URL, the Host header and the TLS SNI / certificate check keep the
   original name, so a second DNS answer (rebinding) is never used.
3. Redirects are never followed (a 3xx is returned as is) and environment proxies are
   ignored (a proxy would do its own DNS).

The URL is parsed with yarl, the parser aiohttp sends with, and the parsed URL travels in the
`ResolvedTarget`: the host that was checked is the host the request goes to, with no second
parser to disagree about it.

The allow-list (host names, CIDRs) is for development and tests; cloud metadata addresses
are refused even when allow-listed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from yarl import URL

from services.errors import Permanent, Retryable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS IPv6 instance metadata
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
# RFC 6052 NAT64 well-known prefix: the last 32 bits are an IPv4 address.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(Permanent):
    """The URL points somewhere we must not connect to; `reason` says why."""

    code = "unsafe_target"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResolveFailed(Retryable):
    """The host name did not resolve (may pass later: DNS outage, propagation)."""

    code = "dns_error"


@dataclass(frozen=True)
class NetPolicy:
    """What outbound requests may reach. Build one per use from that domain's settings."""

    require_https: bool = False
    allow_hosts: frozenset[str] = frozenset()
    allow_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    # Replaces getaddrinfo (tests, or a resolver with its own cache); returns IP strings.
    resolver: Resolver | None = field(default=None, compare=False)

    @classmethod
    def build(
        cls, *, require_https: bool = False, allow_hosts: Sequence[str] = (),
        allow_cidrs: Sequence[str] = (), connect_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0, resolver: Resolver | None = None,
    ) -> NetPolicy:
        return cls(
            require_https=require_https,
            allow_hosts=frozenset(h.lower().strip("[]") for h in allow_hosts),
            allow_cidrs=tuple(ipaddress.ip_network(c, strict=False) for c in allow_cidrs),
            connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s,
            resolver=resolver,
        )


@dataclass(frozen=True)
class ResolvedTarget:
    """A URL that passed the check, with the addresses a connection may use."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    # The parsed URL the request is sent to (its host is `host`, its port `port`).
    parsed: URL = field(compare=False)


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, or None when it is."""
    if ip in METADATA_ADDRESSES:
        return f"cloud metadata address {ip}"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            # The IPv4 address is where the packets end up: judge by it alone.
            inner = address_problem(embedded)
            return f"{inner} (embedded in {ip})" if inner else None
    for label, hit in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unique-local", isinstance(ip, ipaddress.IPv6Address) and ip in _ULA),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if hit:
            return f"{label} address {ip}"
    if not ip.is_global:
        # 100.64.0.0/10 (shared / carrier NAT), documentation and benchmarking ranges.
        return f"non-public address {ip}"
    return None


_ULA = ipaddress.ip_network("fc00::/7")


def _allowed(ip: IPAddress, policy: NetPolicy) -> bool:
    return any(ip.version == net.version and ip in net for net in policy.allow_cidrs)


async def _resolve(host: str, port: int, policy: NetPolicy) -> list[str]:
    if policy.resolver is not None:
        found = list(await policy.resolver(host, port))
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM,
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolveFailed(f"host {host!r} did not resolve: {exc}") from exc
        found = [str(info[4][0]) for info in infos]
    # getaddrinfo repeats an address once per protocol family entry; keep the first of each.
    unique = list(dict.fromkeys(found))
    if not unique:
        raise ResolveFailed(f"host {host!r} did not resolve")
    return unique


async def check_host(host: str, port: int, policy: NetPolicy) -> tuple[str, ...]:
    """Resolve `host` and return its addresses, or raise UnsafeTarget naming the first bad one."""
    name = host.lower().rstrip(".")
    if name in METADATA_HOSTS:
        raise UnsafeTarget(f"cloud metadata host {host}")
    try:
        literal: IPAddress | None = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        literal = None
    if literal is None and looks_numeric(name):
        # aiohttp connects to a host of digits and dots (or with a colon) without asking a
        # resolver, and socket would read 0177.0.0.1 as octal and 2130706433 as 127.0.0.1:
        # only canonical IP literals, which are checked above, may take that path.
        raise UnsafeTarget(f"not a valid URL: host {host!r} is not a canonical IP address")
    if name.endswith(".localhost") and name not in policy.allow_hosts:
        # RFC 6761: every *.localhost name is loopback, whatever a resolver says.
        raise UnsafeTarget(f"loopback host name {host}")
    addresses = [str(literal)] if literal else await _resolve(name, port, policy)
    host_allowed = name.strip("[]") in policy.allow_hosts
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        problem = address_problem(ip)
        if problem is None:
            continue
        if (host_allowed or _allowed(ip, policy)) and ip not in METADATA_ADDRESSES:
            continue
        shown = problem if literal else f"{host} resolves to {problem}"
        raise UnsafeTarget(shown)
    return tuple(addresses)


def looks_numeric(host: str) -> bool:
    """aiohttp's test for an IP literal (helpers.is_ip_address): such hosts skip the resolver."""
    return ":" in host or host.replace(".", "").isdigit()


@functools.lru_cache(maxsize=4096)
def _parse(url: str) -> ResolvedTarget:
    """The URL's parts (addresses left empty). Cached: a webhook URL is parsed on every
    attempt, and parsing was a tenth of the delivery path's time when profiled."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise UnsafeTarget(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeTarget(f"scheme {parsed.scheme or '(none)'!r} is not http or https")
    # raw_host is the IDNA (ASCII) form: what aiohttp resolves, connects to and names in
    # Host and SNI.
    if not parsed.raw_host:
        raise UnsafeTarget("URL has no host")
    if parsed.port is None:
        raise UnsafeTarget("URL has no port")
    return ResolvedTarget(url=str(parsed), scheme=parsed.scheme, host=parsed.raw_host,
                          port=parsed.port, addresses=(), parsed=parsed)


async def check_url(url: str, policy: NetPolicy) -> ResolvedTarget:
    """Parse, resolve and check `url`; raise UnsafeTarget(reason) or ResolveFailed."""
    parts = _parse(url)
    if policy.require_https and parts.scheme != "https":
        raise UnsafeTarget("https is required")
    addresses = await check_host(parts.host, parts.port, policy)
    return dataclasses.replace(parts, addresses=addresses)
