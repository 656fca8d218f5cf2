"""The data commands, each run on a mongomock database and answered as a server does.

Writes report per-document failures in `writeErrors` ({index, code, errmsg}) and keep
going unless `ordered`; PyMongo turns code 11000 into DuplicateKeyError. Reads answer the
whole result in `firstBatch` with cursor id 0, so no getMore ever follows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson.int64 import Int64
from mongomock import OperationFailure
from pymongo import ReturnDocument

Doc = dict[str, Any]


def cursor_reply(ns: str, docs: list[Doc], batch: str = "firstBatch") -> Doc:
    return {"cursor": {"id": Int64(0), "ns": ns, batch: docs}, "ok": 1.0}


def _write_error(index: int, exc: OperationFailure) -> Doc:
    return {"index": index, "code": exc.code or 2, "errmsg": str(exc)}


def _writes(specs: list[Doc], ordered: bool, run: Callable[[int, Doc], None]) -> list[Doc]:
    errors: list[Doc] = []
    for index, spec in enumerate(specs):
        try:
            run(index, spec)
        except OperationFailure as exc:
            errors.append(_write_error(index, exc))
            if ordered:
                break
    return errors


def _reply(errors: list[Doc], **counts: Any) -> Doc:
    return {**counts, **({"writeErrors": errors} if errors else {}), "ok": 1.0}


def insert(db: Any, cmd: Doc) -> Doc:
    coll, n = db[cmd["insert"]], 0

    def one(_: int, doc: Doc) -> None:
        nonlocal n
        coll.insert_one(doc)
        n += 1

    errors = _writes(cmd.get("documents", []), cmd.get("ordered", True), one)
    return _reply(errors, n=n)


def _is_operators(update: Any) -> bool:
    return isinstance(update, dict) and bool(update) and all(k.startswith("$") for k in update)


def update(db: Any, cmd: Doc) -> Doc:
    coll, n, modified, upserted = db[cmd["update"]], 0, 0, []

    def one(index: int, spec: Doc) -> None:
        nonlocal n, modified
        query, change, upsert = spec.get("q", {}), spec["u"], bool(spec.get("upsert"))
        if not _is_operators(change):
            result = coll.replace_one(query, change, upsert=upsert)
        elif spec.get("multi"):
            result = coll.update_many(query, change, upsert=upsert, array_filters=spec.get("arrayFilters"))
        else:
            result = coll.update_one(query, change, upsert=upsert, array_filters=spec.get("arrayFilters"))
        if result.upserted_id is not None:
            upserted.append({"index": index, "_id": result.upserted_id})
        n += result.matched_count + (result.upserted_id is not None)
        modified += result.modified_count

    errors = _writes(cmd.get("updates", []), cmd.get("ordered", True), one)
    return _reply(errors, n=n, nModified=modified, **({"upserted": upserted} if upserted else {}))


def delete(db: Any, cmd: Doc) -> Doc:
    coll, n = db[cmd["delete"]], 0

    def one(_: int, spec: Doc) -> None:
        nonlocal n
        remove = coll.delete_one if spec.get("limit") == 1 else coll.delete_many
        n += remove(spec.get("q", {})).deleted_count

    errors = _writes(cmd.get("deletes", []), cmd.get("ordered", True), one)
    return _reply(errors, n=n)


def find(db: Any, cmd: Doc) -> Doc:
    coll = db[cmd["find"]]
    cursor = coll.find(cmd.get("filter") or {}, cmd.get("projection") or None)
    if cmd.get("sort"):
        cursor = cursor.sort(list(cmd["sort"].items()))
    if cmd.get("skip"):
        cursor = cursor.skip(cmd["skip"])
    if cmd.get("limit"):
        # find_one sends limit 1 with singleBatch; a negative limit means the same.
        cursor = cursor.limit(abs(cmd["limit"]))
    return cursor_reply(f"{db.name}.{coll.name}", list(cursor))


def find_and_modify(db: Any, cmd: Doc) -> Doc:
    coll = db[cmd.get("findAndModify", cmd.get("findandmodify"))]
    query, fields = cmd.get("query") or {}, cmd.get("fields") or None
    sort = list(cmd["sort"].items()) if cmd.get("sort") else None
    existing = coll.find_one(query, sort=sort)
    if cmd.get("remove"):
        value = coll.find_one_and_delete(query, projection=fields, sort=sort)
        return {"lastErrorObject": {"n": int(value is not None)}, "value": value, "ok": 1.0}
    change, upsert = cmd.get("update"), bool(cmd.get("upsert"))
    returned = ReturnDocument.AFTER if cmd.get("new") else ReturnDocument.BEFORE
    modify = coll.find_one_and_update if _is_operators(change) else coll.find_one_and_replace
    value = modify(query, change, projection=fields, sort=sort, upsert=upsert, return_document=returned)
    last: Doc = {"n": int(existing is not None or upsert), "updatedExisting": existing is not None}
    if existing is None and upsert:
        inserted = value if value is not None and "_id" in value else coll.find_one(query, sort=sort)
        last["upserted"] = inserted["_id"] if inserted else None
    return {"lastErrorObject": last, "value": value, "ok": 1.0}


def count(db: Any, cmd: Doc) -> Doc:
    options = {k: cmd[k] for k in ("skip", "limit") if cmd.get(k)}
    return {"n": db[cmd["count"]].count_documents(cmd.get("query") or {}, **options), "ok": 1.0}


def aggregate(db: Any, cmd: Doc) -> Doc:
    coll = db[cmd["aggregate"]]
    return cursor_reply(f"{db.name}.{coll.name}", list(coll.aggregate(cmd.get("pipeline", []))))


def distinct(db: Any, cmd: Doc) -> Doc:
    return {"values": db[cmd["distinct"]].distinct(cmd["key"], cmd.get("query") or {}), "ok": 1.0}
