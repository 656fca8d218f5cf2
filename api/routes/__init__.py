"""Every router the API serves. A domain adds its module's `router` here."""

from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    from api.routes import (
        batches,
        bridge_runs,
        config_apikeys,
        config_bridges,
        config_platform_keys,
        config_services,
        events,
        health,
        jobs,
        openai_compat,
        prom,
        usage,
        webhooks,
    )

    return [health.router, jobs.router, events.router, usage.router, prom.router,
            webhooks.router, config_bridges.router, config_apikeys.router,
            config_services.router, config_platform_keys.router, bridge_runs.router,
            openai_compat.router, batches.router, batches.files_router, batches.openai_router]
