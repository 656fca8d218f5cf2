"""The entry point: `keys create` and the embedded platform's start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from config import load_settings
from services.auth.keys import hash_key

ROOT = Path(__file__).resolve().parents[1]


def test_keys_create_prints_a_key_once_and_stores_only_its_hash(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "APP_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(ROOT / "index.py"), "keys", "create", "--org", "acme"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    raw = out.stdout.strip()
    assert raw.startswith("aim_")
    stored = (tmp_path / "config.json").read_text()
    assert raw not in stored and hash_key(raw) in stored and '"acme"' in stored


async def test_embedded_app_serves_a_key_created_by_the_cli(tmp_path) -> None:
    from index import build_app

    env = {"PATH": "/usr/bin:/bin", "APP_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    raw = subprocess.run([sys.executable, str(ROOT / "index.py"), "keys", "create", "--org", "acme"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         check=True).stdout.strip()
    settings = load_settings()
    settings.app.data_dir = str(tmp_path)
    settings.rabbit.url = None
    settings.redis.url = None
    settings.mongo.url = None
    app = build_app(settings, with_workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/v1/jobs", params={"wait": 5}, headers={"Authorization": f"Bearer {raw}"},
                json={"kind": "model", "payload": {"messages": [{"role": "user", "content": "hey"}]}})
            assert response.status_code == 200
            assert response.json()["org_id"] == "acme"
            assert response.json()["result"]["content"] == "echo: hey"
            dev_key = (tmp_path / "dev-api-key").read_text()
            dev = await client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {dev_key}"})
            assert dev.status_code == 200 and dev.json()["data"] == []  # 'dev' org sees none of acme's


def test_production_without_urls_names_the_missing_variables(monkeypatch) -> None:
    for name in ("QUEUE_CONNECTIONURL", "REDIS_URI", "MONGODB_CONNECTION_URI", "TIMESCALE_SERVICE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "PRODUCTION")
    monkeypatch.setenv("REDIS_URI", "redis://x:6379/0")
    with pytest.raises(ValueError) as caught:
        load_settings()
    message = str(caught.value)
    assert "QUEUE_CONNECTIONURL" in message and "MONGODB_CONNECTION_URI" in message
    assert "REDIS_URI" not in message.split("needs", 1)[1].split("to be set")[0]


def test_production_rejects_a_placeholder_encryption_key(monkeypatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "PRODUCTION")
    for name in ("QUEUE_CONNECTIONURL", "REDIS_URI", "MONGODB_CONNECTION_URI", "TIMESCALE_SERVICE_URL"):
        monkeypatch.setenv(name, "x://y")
    monkeypatch.setenv("ENCRYPTION_KEYS", "change-me")
    with pytest.raises(ValueError, match="ENCRYPTION_KEYS"):
        load_settings()


def test_legacy_environment_names_are_honoured(monkeypatch) -> None:
    monkeypatch.setenv("QUEUE_CONNECTIONURL", "amqp://a/")
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("CONSUMER_STATUS", "true")
    monkeypatch.setenv("RABBIT_PREFETCH", "321")
    settings = load_settings()
    assert settings.rabbit.url == "amqp://a/" and settings.app.port == 9123
    assert settings.app.consumer_status is True and settings.rabbit.prefetch == 321
