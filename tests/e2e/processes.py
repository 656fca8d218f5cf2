"""Starts real `python index.py ...` processes for tests that kill or signal them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBIT_", "REDIS_", "JOBS_"))}
    env.update({
        "QUEUE_CONNECTIONURL": settings.rabbit.url or "",
        "REDIS_URI": settings.redis.url or "",
        "RABBIT_QUEUE_PREFIX": settings.rabbit.queue_prefix,
        "REDIS_KEY_PREFIX": settings.redis.key_prefix,
        "APP_DATA_DIR": settings.app.data_dir,
        "PYTHONPATH": str(ROOT),
        **extra,
    })
    return env


def start_worker(settings: Settings, pool: str = "model", **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "index.py"), "worker", "--pool", pool],
        env=env_for(settings, **extra), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
