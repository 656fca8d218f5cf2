"""Safe defaults of the entry points: loopback binds, a banner only once the port answers, a
key created next to a running server, refusals that say why, settings errors in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from config import InvalidSettings, load_settings
from services.auth.keys import hash_key

ROOT = Path(__file__).resolve().parents[1]
BACKEND_VARS = ("QUEUE_CONNECTIONURL", "REDIS_URI", "MONGODB_CONNECTION_URI", "TIMESCALE_SERVICE_URL")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in BACKEND_VARS and not k.startswith(("APP_", "RABBIT_", "REDIS_", "WEBHOOKS_"))}
    env.update({"APP_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), **extra})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_processes_bind_loopback_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_HOST", "APP_METRICS_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.app.host == "127.0.0.1" and settings.app.metrics_host == "127.0.0.1"
    monkeypatch.setenv("APP_HOST", "0.0.0.0")
    assert load_settings().app.host == "0.0.0.0"
    assert "APP_HOST=0.0.0.0" in (ROOT / "Dockerfile").read_text()


def test_the_banner_prints_once_the_port_accepts_connections(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "index.py")], cwd=ROOT,
                            env=clean_env(tmp_path, PORT=str(port)),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "is up on" in line:
                break
        else:
            raise AssertionError("no banner")
        # The banner promised the port: it answers now, on loopback.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        outside = [a for a in socket.gethostbyname_ex(socket.gethostname())[2] if not a.startswith("127.")]
        for address in outside:
            with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
                pass
    finally:
        proc.terminate()
        proc.wait(30)


async def test_a_key_created_by_the_cli_while_the_server_runs_is_seen_and_kept(tmp_path: Path) -> None:
    from index import build_app

    settings = load_settings()
    settings.app.data_dir = str(tmp_path)
    settings.rabbit.url = settings.redis.url = settings.mongo.url = None
    app = build_app(settings, with_workers=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            dev = {"Authorization": f"Bearer {(tmp_path / 'dev-api-key').read_text()}"}
            raw = subprocess.run([sys.executable, str(ROOT / "index.py"), "keys", "create", "--org", "acme"],
                                 env=clean_env(tmp_path), cwd=ROOT, capture_output=True, text=True,
                                 timeout=60, check=True).stdout.strip()
            cli_key = {"Authorization": f"Bearer {raw}"}
            assert (await client.get("/api/v1/jobs", headers=cli_key)).status_code == 200
            # The server's next save of the keys must keep the CLI's key.
            assert (await client.post("/api/v1/config/platform-keys", json={"name": "x"},
                                      headers=dev)).status_code == 201
            assert hash_key(raw) in (tmp_path / "config.json").read_text()
            assert (await client.get("/api/v1/jobs", headers=cli_key)).status_code == 200


async def test_a_revoked_key_is_refused_at_once(tmp_path: Path) -> None:
    from index import build_app

    settings = load_settings()
    settings.app.data_dir = str(tmp_path)
    settings.rabbit.url = settings.redis.url = settings.mongo.url = None
    app = build_app(settings, with_workers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            dev = {"Authorization": f"Bearer {(tmp_path / 'dev-api-key').read_text()}"}
            created = (await client.post("/api/v1/config/platform-keys", json={"name": "ci"}, headers=dev)).json()
            doomed = {"Authorization": f"Bearer {created['key']}"}
            assert (await client.get("/api/v1/jobs", headers=doomed)).status_code == 200  # now cached
            revoked = await client.delete(f"/api/v1/config/platform-keys/{created['id']}", headers=dev)
            assert revoked.status_code == 204
            assert (await client.get("/api/v1/jobs", headers=doomed)).status_code == 401


def test_gunicorn_with_several_workers_and_no_backends_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "index:app", "-c", "gunicorn.conf.py"],
                          env=clean_env(tmp_path, WEB_CONCURRENCY="2", PORT=str(free_port())), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "needs QUEUE_CONNECTIONURL and REDIS_URI" in done.stderr
    assert "Traceback" not in done.stderr


def test_gunicorn_with_one_worker_serves_the_api_on_its_own_protocol(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "index:app", "-c", "gunicorn.conf.py"],
                              env=clean_env(tmp_path, WEB_CONCURRENCY="1", PORT=str(port)), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        answer = None
        for _ in range(300):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[0]
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
        assert answer.headers["x-request-id"]
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Using worker: api.serving.Worker" in output
    assert "Traceback" not in output


def test_a_worker_without_a_broker_says_it_has_nothing_to_consume(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "index.py"), "worker"], env=clean_env(tmp_path),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "nothing to consume" in done.stderr and "QUEUE_CONNECTIONURL" in done.stderr


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "eighty"), ("WEBHOOKS_ALLOW_CIDRS", "10.0.0.0/33"), ("RABBIT_PREFETCH", "many"),
    ("WEBHOOKS_RETRY_SCHEDULE_S", "soon"),
])
def test_an_invalid_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path, name: str, value: str) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "index.py"), "api"], env=clean_env(tmp_path, **{name: value}),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"invalid setting: {name}"), done.stderr


def test_list_settings_take_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOKS_ALLOW_CIDRS", "10.0.0.0/8, 127.0.0.1/32")
    monkeypatch.setenv("WEBHOOKS_ALLOW_HOSTS", '["hooks.internal", "localhost"]')
    monkeypatch.setenv("CHAT_TOOL_ALLOW_HOSTS", "tools.internal,localhost")
    settings = load_settings()
    assert settings.webhooks.allow_cidrs == ["10.0.0.0/8", "127.0.0.1/32"]
    assert settings.webhooks.allow_hosts == ["hooks.internal", "localhost"]
    assert settings.chat.tool_allow_hosts == ["tools.internal", "localhost"]
    monkeypatch.setenv("CHAT_TOOL_ALLOW_CIDRS", "not-a-cidr")
    with pytest.raises(InvalidSettings, match="CHAT_TOOL_ALLOW_CIDRS"):
        load_settings()

