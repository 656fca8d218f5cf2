"""Chooses where the config repositories keep their data: MongoDB when
MONGODB_CONNECTION_URI is set, otherwise the embedded JSON file under APP_DATA_DIR.

Each domain builds its own store over the backend (`services/<domain>/runtime.py`);
`services/stores.py` assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from config import Settings
from services.config.json_file import JsonFile

if TYPE_CHECKING:
    from services.config.mongo_client import MongoDatabase

CONFIG_FILE = "config.json"


@dataclass
class ConfigBackend:
    """Exactly one of `mongo` (production) and `file` (embedded) is set."""

    mongo: MongoDatabase | None = None
    file: JsonFile | None = None

    async def connect(self) -> None:
        if self.mongo is not None:
            await self.mongo.connect()
        if self.file is not None:
            self.file.load()

    async def close(self) -> None:
        if self.mongo is not None:
            await self.mongo.close()

    async def ping(self) -> None:
        if self.mongo is not None:
            await self.mongo.ping()


def create_backend(settings: Settings) -> ConfigBackend:
    if settings.mongo.url:
        from services.config.mongo_client import MongoDatabase

        return ConfigBackend(mongo=MongoDatabase(settings.mongo))
    return ConfigBackend(file=JsonFile(Path(settings.app.data_dir) / CONFIG_FILE))
