"""The FastAPI application factory and its lifespan.

`create_app` builds no client: the lifespan does, once per process (or takes a Context
already built, as `python index.py` does to share it with the in-process workers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import errors, governance
from api.asgi import BodyLimit, RequestId
from api.middleware import PrometheusMiddleware
from api.responses import Json
from api.routes import all_routers
from api.scopes import enforce_scope
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
            # --- governance (limits, key scopes, audit); moves to the composition root ---
            if not hasattr(app.state, "governance"):
                _govern(app, context)
            stoppers.append(await governance.start(app.state.governance))
            # --- end governance ---
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
        default_response_class=Json, dependencies=[Depends(enforce_scope)],
    )
    if ctx is not None:
        app.state.ctx = ctx
        _govern(app, ctx)
    errors.install(app)
    for router in all_routers():
        app.include_router(router)
    max_body = (settings or (ctx.settings if ctx else None) or load_settings()).app.max_body_bytes
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(RequestId)
    # Outermost, so a request refused by an inner middleware (413) is counted too.
    app.add_middleware(PrometheusMiddleware)
    return app


def _govern(app: FastAPI, ctx: Context) -> None:
    """Build the governance services from the Context's clients (no connection opened)."""
    from services.jobs.events import add_listener
    from services.limits.runtime import job_settler

    built = governance.build_governance(ctx.settings, redis=ctx.redis, find_key=ctx.config.find_api_key,
                                        list_keys=ctx.config.list_api_keys)
    governance.attach(app, built)
    add_listener(ctx, job_settler(built.governor))
