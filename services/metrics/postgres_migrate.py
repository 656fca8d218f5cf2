"""Versioned SQL migrations for the metrics schema, recorded in `schema_migrations`.

Files in migrations/ are `NNNN_name.sql` (always applied) or come in pairs
`NNNN_name.timescale.sql` / `NNNN_name.postgres.sql`: one version, two layouts, picked by
whether the timescaledb extension can be used. All pending migrations run in one
transaction under an advisory lock, so the API and the metrics pool may start together and a
failed migration leaves nothing half applied.

A database migrated without TimescaleDB keeps the plain layout if the extension appears
later: converting a populated table is an operator's decision (create_hypertable with
migrate_data), not something to do silently at start-up.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to differ from other advisory locks taken on the database.
_LOCK_KEY = 0x61696D6D6574  # "aimmet"
_FILE = re.compile(r"^(\d{4})_(\w+?)(?:\.(timescale|postgres))?\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    # "" (applies everywhere), "timescale" or "postgres" -> file.
    variants: dict[str, Path]

    def pick(self, timescale: bool) -> tuple[str, Path]:
        if "" in self.variants:
            return "", self.variants[""]
        variant = "timescale" if timescale else "postgres"
        if variant not in self.variants:
            raise RuntimeError(f"migration {self.version:04d} has no {variant} variant")
        return variant, self.variants[variant]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in `directory`, by version."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise RuntimeError(f"migration file {path.name} is not NNNN_name[.variant].sql")
        version = int(match[1])
        migration = found.setdefault(version, Migration(version, match[2], {}))
        migration.variants[match[3] or ""] = path
    return [found[v] for v in sorted(found)]


async def timescale_enabled(conn: psycopg.AsyncConnection) -> bool:
    """True when timescaledb is installed, or available and installable here."""
    cur = await conn.execute(
        "SELECT installed_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    row = await cur.fetchone()
    if row is None:
        return False
    if row[0] is not None:
        return True
    try:
        # A savepoint: without shared_preload_libraries or rights the CREATE fails, and the
        # plain layout is used instead of aborting the whole migration.
        async with conn.transaction():
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public")
    except psycopg.Error as exc:
        log.warning("timescaledb is available but cannot be enabled: %s", exc)
        return False
    return True


async def migrate(conn: psycopg.AsyncConnection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations; return the names applied (e.g. "0002_time_layout.postgres")."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, variant text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        pending = [m for m in discover(directory) if m.version not in done]
        if not pending:
            return applied_now
        timescale = await timescale_enabled(conn)
        for migration in pending:
            variant, path = migration.pick(timescale)
            await conn.execute(path.read_text().encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, variant) VALUES (%s, %s, %s)",
                (migration.version, migration.name, variant or "all"),
            )
            applied_now.append(path.name.removesuffix(".sql"))
    log.info("metrics schema migrated", extra={"applied": applied_now})
    return applied_now
