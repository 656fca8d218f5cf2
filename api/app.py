"""The FastAPI application factory and its lifespan.

`create_app` builds no client: the lifespan does, once per process (or takes a Context
already built, as `python index.py` does to share it with the in-process workers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import errors, openapi
from api.deps import known_query_params
from api.drain import install_drain
from api.edge import Edge
from api.fastpath import FastPaths
from api.responses import Json
from api.routes import all_routers, chatbot_ws
from api.routes import chatbot as chatbot_routes
from api.routes import threads as threads_routes
from api.scopes import enforce_scope
from api.state import install_state
from config import Settings, load_settings
from services.common.gc import freeze_startup_heap
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
        stoppers: list[Callable[[], Awaitable[None]]] = []
        try:
            install_state(app, context)
            for hook in hooks or []:
                if (stop := await hook(context)) is not None:
                    stoppers.append(stop)
            freeze_startup_heap()
            yield
        finally:
            for stop in reversed(stoppers):
                await stop()
            if own:
                await context.close()

    app = FastAPI(
        title="ai-middleware", version="0.1.0", lifespan=lifespan,
        default_response_class=Json, dependencies=[Depends(enforce_scope), Depends(known_query_params)],
        # The platform's own Edge layer makes the request spans (and joins them to the
        # jobs' spans); FastAPI's native telemetry would add a second set, and asking the
        # OpenTelemetry providers whether it is on cost 1.5% of a proxied call.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    if ctx is not None:
        app.state.ctx = ctx
        install_state(app, ctx)
    install_drain(app)
    errors.install(app)
    openapi.install(app)
    for router in all_routers():
        app.include_router(router)
    app.include_router(threads_routes.router)
    app.include_router(chatbot_routes.router)
    app.include_router(chatbot_ws.router)
    resolved = settings or (ctx.settings if ctx else None) or load_settings()
    # Innermost: behind the Edge's body limit, request id, metrics and tracing like every route.
    app.add_middleware(FastPaths)
    app.add_middleware(Edge, max_bytes=resolved.app.max_body_bytes, paths=lambda: app.openapi()["paths"],
                       bulk_prefixes=("/api/v1/batches", "/v1/files"),
                       bulk_max_bytes=resolved.scheduling.batch_max_bytes)
    return app
