"""Entry point for every process.

    python index.py                         API + every worker pool, one process, embedded backends
    python index.py api                     the HTTP tier
    python index.py worker --pool model     a worker pool (comma-separate several)
    python index.py worker --pool ingest    the RAG ingestion worker (Celery)
    python index.py keys create --org ORG   create a platform API key (shown once)

`uvicorn index:app` and `gunicorn index:app -c gunicorn.conf.py` serve the API; with the
embedded broker (no QUEUE_CONNECTIONURL) or CONSUMER_STATUS=true they also run the pools.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from config import InvalidSettings, Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from services.context import Context

cli = typer.Typer(add_completion=False, no_args_is_help=False, help=__doc__)
keys_cli = typer.Typer(help="Platform API keys")
cli.add_typer(keys_cli, name="keys")
log = logging.getLogger("ai_middleware")



_EXAMPLE_BODY = '{"kind":"model","payload":{"messages":[{"role":"user","content":"hi"}]}}'


def _settings() -> Settings:
    """The settings, or exit with one line naming the variable that is wrong."""
    try:
        return load_settings()
    except InvalidSettings as exc:
        raise SystemExit(f"invalid setting: {exc}") from None


def _dev_key_path(settings: Settings) -> Path:
    return Path(settings.app.data_dir) / "dev-api-key"


async def _when_listening(host: str, port: int, then: Callable[[], None]) -> None:
    """Call `then` once the port accepts connections (the server binds after the lifespan)."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    while True:
        try:
            _, writer = await asyncio.open_connection(probe, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        then()
        return


async def _dev_key_hook(ctx: Context) -> Callable[[], Awaitable[None]] | None:
    """On the embedded config store, make sure a development key exists and print it."""
    if ctx.settings.mongo.url or ctx.settings.app.production:
        return None
    raw = ctx.settings.app.dev_api_key
    path = _dev_key_path(ctx.settings)
    if raw is None and path.exists():
        raw = path.read_text().strip()
    if raw is None:
        raw = f"aim_dev{secrets.token_hex(2)}_{secrets.token_urlsafe(24)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(raw)
        path.chmod(0o600)
    await ctx.keys.register_raw("dev", raw, name="development")
    port = ctx.settings.app.port

    def banner() -> None:
        print(f"\n  ai-middleware is up on http://127.0.0.1:{port}  (org 'dev')\n"
              f"  Development API key: {raw}\n"
              f"  Try: curl -s -H 'Authorization: Bearer {raw}' -H 'content-type: application/json' \\\n"
              f"         -d '{_EXAMPLE_BODY}' \\\n"
              f"         'http://127.0.0.1:{port}/api/v1/jobs?wait=5'\n", flush=True)

    waiting = asyncio.create_task(_when_listening(ctx.settings.app.host, port, banner))

    async def stop() -> None:
        waiting.cancel()

    return stop


def build_app(settings: Settings | None = None, *, with_workers: bool | None = None) -> FastAPI:
    """The API app; with workers in process when the broker is embedded (or asked for)."""
    from api.app import create_app
    from services.observability import tracing
    from workers.process import start_runner

    settings = settings or _settings()
    run_workers = with_workers if with_workers is not None else (
        not settings.rabbit.url or settings.app.consumer_status)
    tracing.setup(settings.tracing, "ai-middleware-all" if run_workers else "ai-middleware-api")
    from services.broker.sampler import start_queue_sampler
    from workers.pools import pool_names

    async def open_metrics(ctx: Context) -> None:
        await ctx.metrics.open()

    async def sample_queues(ctx: Context) -> Callable[[], Awaitable[None]]:
        return await start_queue_sampler(ctx.broker, ctx.settings.app.queue_depth_interval_s)

    hooks: list[Callable[[Any], Awaitable[Any]]] = [_dev_key_hook, open_metrics, sample_queues]
    if run_workers:

        async def workers_hook(ctx: Context) -> Callable[[], Awaitable[None]]:
            return (await start_runner(ctx, pool_names(ctx))).stop

        hooks.append(workers_hook)
    return create_app(settings, hooks=hooks)


def _serve(app: FastAPI, settings: Settings) -> None:
    import uvicorn

    from api.serving import HttpProtocol

    uvicorn.run(app, host=settings.app.host, port=settings.app.port, loop="uvloop",
                http=HttpProtocol, log_config=None, access_log=False, timeout_graceful_shutdown=30)


def _configure() -> Settings:
    from services.common.logging import configure_logging

    settings = _settings()
    configure_logging(settings.app.log_level)
    return settings


@cli.callback(invoke_without_command=True)
def main(context: typer.Context) -> None:
    """With no command: the whole platform in one process."""
    if context.invoked_subcommand is None:
        settings = _configure()
        _serve(build_app(settings, with_workers=True), settings)


@cli.command()
def api() -> None:
    """Run the HTTP tier."""
    settings = _configure()
    _serve(build_app(settings), settings)


@cli.command()
def worker(pool: Annotated[str, typer.Option(help="comma-separated pools, e.g. model,chatbot")] = "model") -> None:
    """Run worker pools until SIGTERM, then drain."""
    import uvloop

    from services.observability import tracing
    from workers.process import run_worker

    settings = _configure()
    pools = [p.strip() for p in pool.split(",") if p.strip()]
    # RAG ingestion is a Celery worker (CPU-bound parsing in its own processes), not an
    # asyncio pool: `--pool ingest` runs it alone (services/rag/ingest/worker.py).
    if "ingest" in pools:
        from services.rag.ingest.worker import run_ingest_worker

        if pools != ["ingest"]:
            raise typer.BadParameter("run the ingest pool in its own process", param_hint="--pool")
        run_ingest_worker(settings)
        return
    if not settings.rabbit.url:
        raise SystemExit("python index.py worker needs QUEUE_CONNECTIONURL: with the embedded broker "
                         "a separate worker has nothing to consume (python index.py runs the API and "
                         "every pool in one process).")
    stop_tracing = tracing.setup(settings.tracing, f"ai-middleware-worker-{pool.replace(',', '-')}")
    try:
        uvloop.run(run_worker(settings, pools))
    finally:
        stop_tracing()


@keys_cli.command("create")
def keys_create(org: Annotated[str, typer.Option(help="org id")],
                name: Annotated[str, typer.Option(help="label")] = "") -> None:
    """Create a platform API key for ORG and print it once."""
    from services.auth.service import KeyService
    from services.stores import create_stores

    async def run() -> str:
        stores = create_stores(_settings())
        await stores.connect()
        try:
            raw, _ = await KeyService(stores.keys).create(org, name)
            return raw
        finally:
            await stores.close()

    raw = asyncio.run(run())
    typer.echo(raw)
    typer.echo(f"(org {org}; stored hashed: this is the only time the key is shown)", err=True)


@cli.command("reencrypt-credentials")
def reencrypt_credentials() -> None:
    """Re-seal every provider credential under the first ENCRYPTION_KEYS key (after putting
    a new key first); the old key can be removed once this has run."""
    from services.context import build_context

    async def run() -> int:
        ctx = await build_context(_settings(), role="cli")
        try:
            return await ctx.credentials.reencrypt_all()
        finally:
            await ctx.close()

    typer.echo(f"re-encrypted {asyncio.run(run())} credentials")


def __getattr__(name: str) -> Any:
    # `uvicorn index:app` / gunicorn look up `app`: built on first access, not at import.
    if name == "app":
        built = build_app()
        globals()["app"] = built
        return built
    raise AttributeError(name)


if __name__ == "__main__":
    cli()
