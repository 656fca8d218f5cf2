"""Every router the API serves. A domain adds its module's `router` here."""

from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    from api.routes import (
        audit,
        batches,
        bridge_runs,
        config_apikeys,
        config_bridges,
        config_platform_keys,
        config_services,
        embeddings,
        events,
        health,
        jobs,
        limits,
        openai_compat,
        prom,
        rag,
        usage,
        webhooks,
    )

    return [health.router, jobs.router, events.router, usage.router, prom.router,
            webhooks.router, config_bridges.router, config_apikeys.router,
            config_services.router, config_platform_keys.router, bridge_runs.router,
            openai_compat.router, limits.router, audit.router,
            rag.router, embeddings.router, batches.router, batches.files_router, batches.openai_router]
