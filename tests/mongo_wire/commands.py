"""Runs one command document against the shared mongomock client, as a standalone server.

`hello` reports wire version 21 (MongoDB 7.0; PyMongo 4.x needs at least 9) and
`logicalSessionTimeoutMinutes`, so the driver uses sessions; it reports no `topologyVersion`,
so the driver's monitor polls (every 10 s) instead of holding a streaming hello open. The
fields PyMongo adds to every command (`lsid`, `$clusterTime`, `$readPreference`, write
concerns) are ignored: one mongomock behind a lock is always consistent.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from typing import Any

import mongomock
from mongomock import OperationFailure

from tests.mongo_wire import crud
from tests.mongo_wire.crud import Doc, cursor_reply

log = logging.getLogger(__name__)
MAX_WIRE_VERSION = 21
COMMAND_NOT_FOUND = 59
INTERNAL_ERROR = 1


def _hello(conn_id: int, legacy: bool) -> Doc:
    return {
        "helloOk": True, "isWritablePrimary": True, **({"ismaster": True} if legacy else {}),
        "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000, "localTime": datetime.datetime.now(datetime.UTC),
        "logicalSessionTimeoutMinutes": 30, "connectionId": conn_id,
        "minWireVersion": 0, "maxWireVersion": MAX_WIRE_VERSION, "readOnly": False, "ok": 1.0,
    }


def _create_indexes(db: Any, cmd: Doc) -> Doc:
    coll = db[cmd["createIndexes"]]
    before = len(coll.index_information())
    for spec in cmd.get("indexes", []):
        options = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
        coll.create_index(list(spec["key"].items()), **options)
    return {"numIndexesBefore": before, "numIndexesAfter": len(coll.index_information()), "ok": 1.0}


def _list_indexes(db: Any, cmd: Doc) -> Doc:
    coll = db[cmd["listIndexes"]]
    indexes = [{"v": 2, **info, "key": dict(info["key"]), "name": name}
               for name, info in coll.index_information().items()]
    return cursor_reply(f"{db.name}.{coll.name}", indexes)


def _list_collections(db: Any, cmd: Doc) -> Doc:
    wanted = (cmd.get("filter") or {}).get("name")
    names = [n for n in db.list_collection_names() if wanted in (None, n)]
    docs = [{"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}} for n in names]
    return cursor_reply(f"{db.name}.$cmd.listCollections", docs)


def _drop(db: Any, cmd: Doc) -> Doc:
    db.drop_collection(cmd["drop"])
    return {"ns": f"{db.name}.{cmd['drop']}", "ok": 1.0}


def _get_more(db: Any, cmd: Doc) -> Doc:
    # Every cursor is answered whole with id 0, so a getMore has nothing left to give.
    return cursor_reply(f"{db.name}.{cmd.get('collection', '')}", [], batch="nextBatch")


def _kill_cursors(_: Any, cmd: Doc) -> Doc:
    return {"cursorsKilled": [], "cursorsNotFound": cmd.get("cursors", []),
            "cursorsAlive": [], "cursorsUnknown": [], "ok": 1.0}


def _ok(_: Any, __: Doc) -> Doc:
    return {"ok": 1.0}


def _build_info(_: Any, __: Doc) -> Doc:
    return {"version": "7.0.0", "versionArray": [7, 0, 0, 0], "maxBsonObjectSize": 16 * 1024 * 1024, "ok": 1.0}


HANDLERS: dict[str, Callable[[Any, Doc], Doc]] = {
    "insert": crud.insert, "update": crud.update, "delete": crud.delete, "find": crud.find,
    "findAndModify": crud.find_and_modify, "findandmodify": crud.find_and_modify,
    "count": crud.count, "aggregate": crud.aggregate, "distinct": crud.distinct,
    "createIndexes": _create_indexes, "listIndexes": _list_indexes,
    "listCollections": _list_collections, "drop": _drop,
    "getMore": _get_more, "killCursors": _kill_cursors,
    "ping": _ok, "endSessions": _ok, "killSessions": _ok, "buildInfo": _build_info, "buildinfo": _build_info,
}


class Backend:
    """One mongomock client shared by every connection; one command at a time."""

    def __init__(self) -> None:
        self.client: mongomock.MongoClient[Doc] = mongomock.MongoClient()
        self._lock = threading.Lock()

    def run(self, db_name: str, cmd: Doc, conn_id: int) -> Doc:
        name = next(iter(cmd), "")
        if name in ("hello", "isMaster", "ismaster"):
            return _hello(conn_id, legacy=name != "hello")
        if name == "dropDatabase":
            with self._lock:
                self.client.drop_database(db_name)
            return {"dropped": db_name, "ok": 1.0}
        handler = HANDLERS.get(name)
        if handler is None:
            return {"ok": 0.0, "errmsg": f"no such command: '{name}'", "code": COMMAND_NOT_FOUND,
                    "codeName": "CommandNotFound"}
        try:
            with self._lock:
                return handler(self.client[db_name], cmd)
        except OperationFailure as exc:
            return {"ok": 0.0, "errmsg": str(exc), "code": exc.code or INTERNAL_ERROR}
        except Exception as exc:  # an unsupported option must reach the client, not kill the connection
            log.exception("mongo_wire: %s failed", name)
            return {"ok": 0.0, "errmsg": f"{type(exc).__name__}: {exc}", "code": INTERNAL_ERROR}

