"""Chooses the config store adapter from the settings."""

from __future__ import annotations

from config import Settings
from services.config.store import ConfigStore


def create_config_store(settings: Settings) -> ConfigStore:
    if settings.mongo.url:
        from services.config.mongo import MongoConfigStore

        return MongoConfigStore(settings.mongo)
    from pathlib import Path

    from services.config.memory import MemoryConfigStore

    return MemoryConfigStore(Path(settings.app.data_dir) / "config.json")
