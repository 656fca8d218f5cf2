"""The real MongoDB leg of the store contract suites: a database per test, when
MONGODB_CONNECTION_URI is set (no MongoDB server can be installed on these machines, so
the leg is skipped even under CI; mongomock covers the adapters there)."""

from __future__ import annotations

import os

import pytest

from config import MongoSettings


def real_mongo_settings(unique: str) -> MongoSettings:
    url = os.environ.get("MONGODB_CONNECTION_URI")
    if not url:
        pytest.skip("MONGODB_CONNECTION_URI not set")
    return MongoSettings(url=url, database=f"aim_test_{unique}")
