"""A MongoDB wire-protocol front for mongomock, as test support.

No MongoDB server can be installed on the test machines, and mongomock lives inside one
Python process, so two OS processes could never share a Mongo store. This front listens on
127.0.0.1, speaks the wire protocol PyMongo speaks (OP_MSG, plus the legacy OP_QUERY
handshake), and runs every command against ONE shared `mongomock.MongoClient` under a lock.
Stores then talk to it through the real `AsyncMongoClient` over TCP, from any process.

Inside pytest it runs on a thread (`tests.conftest.mongo_wire`); `python -m tests.mongo_wire`
runs it as its own process. `protocol.py` frames messages, `commands.py` executes them,
`server.py` accepts connections.
"""

from tests.mongo_wire.server import MongoWire, serve

__all__ = ["MongoWire", "serve"]
