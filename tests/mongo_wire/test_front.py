"""The wire front answers PyMongo as a server would: shared data across clients, server-side
errors mapped to PyMongo's exceptions, the legacy handshake, and a run as its own process."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import BulkWriteError, OperationFailure

from tests.e2e.processes import ROOT
from tests.mongo_wire import MongoWire
from tests.mongo_wire.protocol import HEADER, OP_QUERY, OP_REPLY

Client = AsyncMongoClient[dict[str, Any]]


async def test_two_clients_see_one_database(mongo_wire: MongoWire, unique: str) -> None:
    a: Client = AsyncMongoClient(mongo_wire.url)
    b: Client = AsyncMongoClient(mongo_wire.url)
    try:
        await a[unique].items.insert_one({"_id": 1, "by": "a"})
        assert await b[unique].items.find_one({"_id": 1}) == {"_id": 1, "by": "a"}
    finally:
        await a.drop_database(unique)
        await a.aclose()
        await b.aclose()


async def test_errors_come_back_as_a_server_sends_them(mongo_wire: MongoWire, unique: str) -> None:
    client: Client = AsyncMongoClient(mongo_wire.url)
    try:
        with pytest.raises(OperationFailure) as unknown:
            await client[unique].command("noSuchCommand")
        assert unknown.value.code == 59
        await client[unique].items.create_index("k", unique=True)
        with pytest.raises(BulkWriteError) as dup:
            await client[unique].items.insert_many([{"k": 1}, {"k": 1}, {"k": 2}], ordered=False)
        assert [e["code"] for e in dup.value.details["writeErrors"]] == [11000]
        assert dup.value.details["nInserted"] == 2  # unordered: the write after the failure ran
    finally:
        await client.drop_database(unique)
        await client.aclose()


def test_the_legacy_op_query_handshake_gets_an_op_reply(mongo_wire: MongoWire) -> None:
    query = bson.encode({"isMaster": 1, "helloOk": True})
    body = struct.pack("<i", 0) + b"admin.$cmd\0" + struct.pack("<ii", 0, -1) + query
    with socket.create_connection(("127.0.0.1", mongo_wire.port), timeout=5) as sock:
        sock.sendall(HEADER.pack(HEADER.size + len(body), 7, 0, OP_QUERY) + body)
        header = sock.recv(HEADER.size, socket.MSG_WAITALL)
        length, _, response_to, op_code = HEADER.unpack(header)
        rest = sock.recv(length - HEADER.size, socket.MSG_WAITALL)
    assert (response_to, op_code) == (7, OP_REPLY)
    reply = bson.decode(rest[20:])  # after responseFlags, cursorID, startingFrom, numberReturned
    assert reply["ismaster"] is True and reply["maxWireVersion"] >= 9


def test_it_runs_as_its_own_process() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.mongo_wire"], cwd=ROOT,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=5000)
        assert client.admin.command("ping")["ok"] == 1.0
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
