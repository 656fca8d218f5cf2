"""Every router the API serves. A domain adds its module's `router` here."""

from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    from api.routes import health, jobs

    return [health.router, jobs.router]
