"""The HTTP client for every URL a user gives (webhooks, tools, RAG documents): aiohttp, with
connections opened only to the addresses `guard.check_url` accepted.

Usage::

    http = GuardedClient(policy)
    target = await check_url(url, policy)        # UnsafeTarget / ResolveFailed
    response = await http.request("POST", target, body=body, read_limit=65536)

`request` takes only a checked target and sends its parsed URL, so the Host header, TLS SNI
and certificate verification use the URL's name. The connector's resolver is
`PinnedResolver`: for the request's own (host, port) it returns the checked addresses, never
a second lookup (no DNS-rebinding window); for any other name it runs `check_host` itself.
Its DNS cache is off, so no earlier answer is reused. An IP literal is not resolved by aiohttp
at all: the guard checked it, and refuses numeric hosts that are not canonical literals.
Keep-alive connections are reused per (scheme, host, port) and were checked when they were
opened. No redirects (a 3xx is returned as is), no environment proxies, no cookies, no unix
sockets (aiohttp's TCP connector has no such path), and answers are read up to a limit.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from services.net.guard import NetPolicy, ResolvedTarget, check_host

# Idle keep-alive connections older than this are closed rather than reused: most servers
# drop idle clients after 60 s (nginx 75 s), and a reused dead socket costs a retry.
IDLE_EXPIRY_S = 30.0

# (host, port, checked addresses) of the request in flight in this task.
_PIN: ContextVar[tuple[str, int, tuple[str, ...]] | None] = ContextVar("net_pin", default=None)


class HttpError(Exception):
    """The exchange failed before a complete response (connect, TLS, protocol, reset).
    `kind` names aiohttp's exception class."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class HttpTimeout(HttpError):
    """Connect or read took longer than the policy allows."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    # False when the body was cut at `read_limit` (the connection was then closed).
    complete: bool = True

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _key(host: str) -> str:
    # aiohttp turns a trailing ".." into "."; the guard strips dots: both name one host.
    return host.lower().rstrip(".")


class PinnedResolver(AbstractResolver):
    """aiohttp resolver that answers with addresses the guard accepted, never a fresh lookup."""

    def __init__(self, policy: NetPolicy) -> None:
        self._policy = policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        pin = _PIN.get()
        if pin is not None and pin[0] == _key(host) and pin[1] == port:
            addresses = pin[2]
        else:
            # Not reached through `request` (which pins its own host); checked here so that
            # whatever path opens a socket, it goes to an address that passed the check.
            addresses = await check_host(host, port, self._policy)
        results: list[ResolveResult] = []
        for address in addresses:
            ip = address.split("%", 1)[0]
            results.append({
                "hostname": host, "host": ip, "port": port,
                "family": socket.AF_INET6 if ":" in ip else socket.AF_INET,
                "proto": 0, "flags": socket.AI_NUMERICHOST,
            })
        return results

    async def close(self) -> None:
        return None


class GuardedClient:
    """One aiohttp session for untrusted URLs, checked and pinned as the module says.

    `retry_unanswered`: send a request again, once, when the server closed the connection
    before any answer (a kept-alive connection the server had just dropped). aiohttp does
    this for idempotent methods only; webhook POSTs may repeat (receivers dedupe on
    webhook-id), tool calls may not. `decompress=False` asks for and keeps the raw body.
    """

    def __init__(self, policy: NetPolicy, *, max_connections: int = 1000,
                 user_agent: str = "ai-middleware", ssl_context: ssl.SSLContext | None = None,
                 decompress: bool = True, retry_unanswered: bool = False) -> None:
        self.policy = policy
        self._max_connections = max_connections
        self._user_agent = user_agent
        self._ssl = ssl_context
        self._decompress = decompress
        self._retry = retry_unanswered
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Built on first use: aiohttp binds a session to the running loop, and runtimes are
        # assembled before some of their loops exist (Celery ingest tasks).
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=PinnedResolver(self.policy), use_dns_cache=False,
                limit=self._max_connections, keepalive_timeout=IDLE_EXPIRY_S,
                ssl=self._ssl if self._ssl is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None,
                                              sock_connect=self.policy.connect_timeout_s,
                                              sock_read=self.policy.read_timeout_s),
                headers={"User-Agent": self._user_agent}, auto_decompress=self._decompress,
                skip_auto_headers=() if self._decompress else ("Accept-Encoding",),
            )
        return self._session

    async def request(
        self, method: str, target: ResolvedTarget, *, read_limit: int,
        headers: Mapping[str, str] | None = None, body: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send once (see `retry_unanswered`) and read at most `read_limit` bytes of the body.

        Raises HttpTimeout, HttpError, or the guard's UnsafeTarget / ResolveFailed."""
        url = target.parsed
        if url.raw_user is not None and headers and any(
                k.lower() == "authorization" for k in headers):
            url = url.with_user(None)  # an explicit Authorization header wins over URL credentials
        token = _PIN.set((_key(target.host), target.port, target.addresses))
        try:
            try:
                return await self._exchange(method, url, headers, body, params, read_limit)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if not self._retry or isinstance(exc, aiohttp.ClientConnectorError):
                    raise
                return await self._exchange(method, url, headers, body, params, read_limit)
        except TimeoutError as exc:  # aiohttp's connect and read timeouts subclass it
            raise HttpTimeout(f"{type(exc).__name__}: {exc}" if str(exc) else "timed out",
                              type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}", type(exc).__name__) from exc
        finally:
            _PIN.reset(token)

    async def _exchange(
        self, method: str, url: URL, headers: Mapping[str, str] | None,
        body: bytes | None, params: Mapping[str, str] | None, read_limit: int,
    ) -> HttpResponse:
        async with self._open().request(method, url, headers=headers, data=body, params=params,
                                        allow_redirects=False) as response:
            content = response.content
            chunks: list[bytes] = []
            size = 0
            while size < read_limit and not content.at_eof():
                chunk = await content.read(read_limit - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            complete = content.at_eof()
            if not complete:
                response.close()  # half-read: drop the connection rather than reuse it
            return HttpResponse(response.status, response.headers, b"".join(chunks), complete)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
