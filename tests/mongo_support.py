"""The server legs of the Mongo store contract suites, each on a database of its own:

- `wire`: the real `AsyncMongoClient` over TCP to the wire front over mongomock
  (`tests/mongo_wire`), always run, so the driver's own encoding and error mapping are covered;
- `mongodb`: a real MongoDB server when MONGODB_CONNECTION_URI is set. No MongoDB server can
  be installed on these machines, so this leg is skipped even under CI.
"""

from __future__ import annotations

import os

import pytest

from config import MongoSettings

SERVER_LEGS = ["wire", "mongodb"]


def server_url(request: pytest.FixtureRequest, leg: str) -> str:
    if leg == "wire":
        return str(request.getfixturevalue("mongo_wire").url)
    url = os.environ.get("MONGODB_CONNECTION_URI")
    if not url:
        pytest.skip("MONGODB_CONNECTION_URI not set")
    return url


def server_settings(request: pytest.FixtureRequest, leg: str, unique: str) -> MongoSettings:
    return MongoSettings(url=server_url(request, leg), database=f"aim_test_{unique}")
