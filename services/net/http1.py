"""A small HTTP/1.1 client (h11 over asyncio streams) that connects only to checked addresses.

Why not httpx here: webhook delivery is one POST per message at high rates, and on the
2-core benchmark machine httpx topped out near 250 requests/s, most of it spent in the
connection pool's per-request scan of every pooled connection (httpcore checks each one's
socket for readability) and anyio stream wrappers. This client does the one thing delivery
needs: POST a body to a `ResolvedTarget`, read the status, headers and at most `read_limit`
bytes of the answer, and keep the connection for the next request to the same origin.
It measured about 4x httpx's throughput on the same machine (bench/RESULTS.md).

Safety is the guard's: the socket connects to an address from `check_url` (pinned), while
the Host header, TLS SNI and certificate verification use the URL's name. No redirects are
followed (a 3xx is returned as is), no proxies, no DNS lookup of its own.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field

import h11

from services.net.guard import NetPolicy, ResolvedTarget

# Keep-alive connections idle longer than this are closed rather than reused: most servers
# drop idle clients after 60 s (nginx 75 s), and a reused dead socket costs a retry.
IDLE_EXPIRY_S = 30.0
READ_CHUNK = 65536


class HttpError(Exception):
    """The exchange failed before a complete response (connect, TLS, protocol, reset)."""


class HttpTimeout(HttpError):
    """Connect or read took longer than the policy allows."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0

    def usable(self) -> bool:
        return (not self.reader.at_eof() and not self.writer.is_closing()
                and time.monotonic() - self.idle_since < IDLE_EXPIRY_S)

    def close(self) -> None:
        self.writer.close()


class PinnedHttp1Client:
    """POST to checked targets over pooled HTTP/1.1 connections (one pool per origin)."""

    def __init__(self, policy: NetPolicy, *, ssl_context: ssl.SSLContext | None = None,
                 max_idle_per_origin: int = 100, user_agent: str = "ai-middleware") -> None:
        self.policy = policy
        self._ssl = ssl_context or ssl.create_default_context()
        self._max_idle = max_idle_per_origin
        self._user_agent = user_agent
        self._idle: dict[tuple[str, str, int], list[_Conn]] = defaultdict(list)

    async def post(
        self, target: ResolvedTarget, headers: dict[str, str], body: bytes, *, read_limit: int,
    ) -> HttpResponse:
        """Send once; a pooled connection the server had closed is retried on a new one."""
        key = (target.scheme, target.host.lower(), target.port)
        while (conn := self._take(key)) is not None:
            try:
                return await self._exchange(conn, key, target, headers, body, read_limit,
                                            reused=True)
            except _StaleConnection:
                continue
        conn = await self._connect(target)
        return await self._exchange(conn, key, target, headers, body, read_limit, reused=False)

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def _take(self, key: tuple[str, str, int]) -> _Conn | None:
        pool = self._idle.get(key)
        while pool:
            conn = pool.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def _give_back(self, key: tuple[str, str, int], conn: _Conn) -> None:
        pool = self._idle[key]
        if len(pool) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        pool.append(conn)

    async def _connect(self, target: ResolvedTarget) -> _Conn:
        tls = target.scheme == "https"
        error: Exception | None = None
        for address in target.addresses:
            try:
                async with asyncio.timeout(self.policy.connect_timeout_s):
                    reader, writer = await asyncio.open_connection(
                        address.split("%", 1)[0], target.port,
                        ssl=self._ssl if tls else None,
                        server_hostname=target.host if tls else None,
                        limit=READ_CHUNK,
                    )
                return _Conn(reader, writer)
            except TimeoutError as exc:
                error = HttpTimeout(f"connect to {address} timed out")
                error.__cause__ = exc
            except (OSError, ssl.SSLError) as exc:
                error = HttpError(f"connect to {address} failed: {exc}")
        assert error is not None
        raise error

    async def _exchange(
        self, conn: _Conn, key: tuple[str, str, int], target: ResolvedTarget,
        headers: dict[str, str], body: bytes, read_limit: int, *, reused: bool,
    ) -> HttpResponse:
        try:
            response, data, complete = await self._roundtrip(conn, target, headers, body,
                                                            read_limit)
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError,
                ssl.SSLError) as exc:
            conn.close()
            if reused and isinstance(exc, ConnectionError | asyncio.IncompleteReadError):
                # The server closed the idle connection as we reused it: nothing was
                # answered, so sending again on a new connection is what browsers do too.
                raise _StaleConnection from exc
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            conn.close()
            raise HttpTimeout("read timed out") from exc
        except BaseException:
            conn.close()
            raise
        if complete and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            self._give_back(key, conn)
        else:
            conn.close()
        return HttpResponse(
            status=response.status_code,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in response.headers},
            body=data,
        )

    async def _roundtrip(
        self, conn: _Conn, target: ResolvedTarget, headers: dict[str, str], body: bytes,
        read_limit: int,
    ) -> tuple[h11.Response, bytes, bool]:
        default_port = 443 if target.scheme == "https" else 80
        host = target.host if ":" not in target.host else f"[{target.host}]"
        host_header = host if target.port == default_port else f"{host}:{target.port}"
        wire = [("host", host_header), ("user-agent", self._user_agent),
                ("content-length", str(len(body))),
                *((k, v) for k, v in headers.items() if k.lower() not in _OURS)]
        if target.userinfo and not any(k.lower() == "authorization" for k in headers):
            wire.append(("authorization",
                         "Basic " + base64.b64encode(target.userinfo.encode()).decode()))
        out = conn.h11.send(h11.Request(method="POST", target=target.path, headers=wire))
        out += conn.h11.send(h11.Data(data=body)) or b""
        out += conn.h11.send(h11.EndOfMessage()) or b""
        conn.writer.write(out or b"")
        await conn.writer.drain()
        response: h11.Response | None = None
        chunks: list[bytes] = []
        size = 0
        while True:
            event = conn.h11.next_event()
            if event is h11.NEED_DATA:
                async with asyncio.timeout(self.policy.read_timeout_s):
                    data = await conn.reader.read(READ_CHUNK)
                if not data and response is None:
                    raise ConnectionResetError("connection closed before a response")
                conn.h11.receive_data(data)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
                size += len(event.data)
                if size >= read_limit:
                    assert response is not None
                    return response, b"".join(chunks)[:read_limit], False
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return response, b"".join(chunks), True
            elif isinstance(event, h11.ConnectionClosed):
                if response is None:
                    raise ConnectionResetError("connection closed before a response")
                return response, b"".join(chunks), False


_OURS = frozenset({"host", "user-agent", "content-length", "transfer-encoding", "connection"})


class _StaleConnection(Exception):
    """A reused keep-alive connection turned out to be closed: try a new one."""
