"""The FastAPI application factory and its lifespan.

`create_app` builds no client: the lifespan does, once per process (or takes a Context
already built, as `python index.py` does to share it with the in-process workers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.asgi import BodyLimit, RequestId
from api.middleware import PrometheusMiddleware
from api.responses import Json
from api.routes import all_routers
from config import Settings, load_settings
from services.context import Context, build_context

Hook = Callable[[Context], Awaitable[Callable[[], Awaitable[None]] | None]]


def create_app(
    settings: Settings | None = None, *, ctx: Context | None = None, hooks: list[Hook] | None = None,
) -> FastAPI:
    """Build the app. `hooks` run after the Context is ready; each may return a stopper."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = ctx is None
        context = ctx or await build_context(settings or load_settings(), role="api")
        app.state.ctx = context
        stoppers = []
        try:
            for hook in hooks or []:
                if (stop := await hook(context)) is not None:
                    stoppers.append(stop)
            yield
        finally:
            for stop in reversed(stoppers):
                await stop()
            if own:
                await context.close()

    app = FastAPI(
        title="ai-middleware", version="0.1.0", lifespan=lifespan,
        default_response_class=Json,
    )
    if ctx is not None:
        app.state.ctx = ctx
    errors.install(app)
    for router in all_routers():
        app.include_router(router)
    resolved = settings or (ctx.settings if ctx else None) or load_settings()
    app.add_middleware(BodyLimit, max_bytes=resolved.app.max_body_bytes,
                       bulk_prefixes=("/api/v1/batches", "/v1/files"),
                       bulk_max_bytes=resolved.scheduling.batch_max_bytes)
    app.add_middleware(RequestId)
    # Outermost, so a request refused by an inner middleware (413) is counted too.
    app.add_middleware(PrometheusMiddleware)
    return app
