"""Webhook test support: a real HTTP receiver on 127.0.0.1 that verifies every signature with
the `standardwebhooks` library, and a platform (Context + webhook worker + API) whose
webhook settings allow 127.0.0.1 and retry on a shortened schedule."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from api.app import create_app
from config import Settings, WebhookSettings
from services.context import Context
from tests.backends import context, make_settings, new_key
from workers.process import start_runner

# Delays before attempts 1..4: short enough for tests, long enough to tell apart.
SCHEDULE = [0.0, 0.2, 0.4, 0.6]
Reply = tuple[int, dict[str, str], bytes]
Responder = Callable[["Received"], Reply | Awaitable[Reply]]
REASONS = {200: "OK", 204: "No Content", 302: "Found", 410: "Gone", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    # Which of the receiver's secrets verified this request's signature.
    verified: list[str] = field(default_factory=list)


class Receiver:
    """An HTTP/1.1 server (keep-alive, Content-Length bodies) that records every request."""

    def __init__(self, responder: Responder | None = None, *, secrets: list[str] | None = None,
                 tls: ssl.SSLContext | None = None, close_after_reply: bool = False) -> None:
        self.responder = responder or (lambda r: (200, {}, b"ok"))
        self.secrets: list[str] = list(secrets or [])
        self.received: list[Received] = []
        self.in_flight = 0
        # TCP connections accepted; with keep-alive, fewer than requests.
        self.connections = 0
        self._close_after_reply = close_after_reply
        self.max_in_flight = 0
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._arrived = asyncio.Condition()

    port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_for(self, count: int, within_s: float = 10.0) -> list[Received]:
        async with asyncio.timeout(within_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received

    def _verify(self, item: Received) -> None:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(item.body, item.headers)
            except WebhookVerificationError:
                continue
            item.verified.append(secret)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path, _ = head[0].split(" ", 2)
                headers = {}
                for line in head[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                item = Received(method, path, headers, body, time.time())
                self._verify(item)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    reply = self.responder(item)
                    status, extra, payload = await reply if inspect.isawaitable(reply) else reply
                finally:
                    self.in_flight -= 1
                async with self._arrived:
                    self.received.append(item)
                    self._arrived.notify_all()
                lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
                         f"content-length: {len(payload)}",
                         *(f"{k}: {v}" for k, v in extra.items())]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
                await writer.drain()
                if self._close_after_reply:
                    # Like a server whose keep-alive timeout ran out: no `connection: close`.
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError,
                asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


def webhook_settings(backend: str, unique: str, data_dir: Path, **overrides: Any) -> Settings:
    settings = make_settings(backend, unique, data_dir, retention_s=3600)
    settings.webhooks = WebhookSettings(**{
        "retry_schedule_s": SCHEDULE, "allow_cidrs": ["127.0.0.1/32"], "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0, **overrides,
    })
    return settings


@dataclass
class WebhookPlatform:
    ctx: Context
    client: httpx.AsyncClient
    org_a: dict[str, str]
    org_b: dict[str, str]

    async def create_endpoint(self, url: str, **fields: Any) -> dict[str, Any]:
        response = await self.client.post("/api/v1/webhooks/endpoints", headers=self.org_a,
                                          json={"url": url, **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def delivery(self, delivery_id: str, headers: dict[str, str] | None = None) -> Any:
        response = await self.client.get(f"/api/v1/webhooks/deliveries/{delivery_id}",
                                         headers=headers or self.org_a)
        assert response.status_code == 200, response.text
        return response.json()

    async def settled(self, delivery_id: str, within_s: float = 15.0) -> Any:
        """Poll the delivery until it leaves `pending` (what an integrator's dashboard does)."""
        deadline = time.monotonic() + within_s
        while True:
            body = await self.delivery(delivery_id)
            if body["status"] != "pending" or time.monotonic() > deadline:
                return body
            await asyncio.sleep(0.05)

    async def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/api/v1/webhooks/deliveries", headers=self.org_a,
                                         params=params)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@asynccontextmanager
async def webhook_platform(
    backend: str, unique: str, data_dir: Path, *, pools: tuple[str, ...] = ("webhooks",),
    **overrides: Any,
) -> AsyncIterator[WebhookPlatform]:
    settings = webhook_settings(backend, unique, data_dir, **overrides)
    async with context(settings) as ctx:
        stop = (await start_runner(ctx, list(pools))).stop
        app = create_app(settings, ctx=ctx)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                         timeout=30) as client:
                yield WebhookPlatform(ctx, client, await new_key(ctx, "org-a"),
                                      await new_key(ctx, "org-b"))
        finally:
            await stop()
            if ctx.redis is not None:
                await _delete_keys(ctx, settings.redis.key_prefix)


async def _delete_keys(ctx: Context, prefix: str) -> None:
    assert ctx.redis is not None
    keys = [k async for k in ctx.redis.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await ctx.redis.delete(*keys)


def tls_pair(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `name`: (server context, client context trusting it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp / "cert.pem").write_bytes(cert_pem)
    (tmp / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client
