"""Accepts connections for the wire front: one thread per connection, commands serialised
by the backend's lock. Nagle is off: with it on, a driver's small request could wait ~40 ms
for the delayed ACK of the previous reply."""

from __future__ import annotations

import itertools
import logging
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.mongo_wire.commands import Backend
from tests.mongo_wire.protocol import ProtocolError, encode_reply, read_request

log = logging.getLogger(__name__)


class _Connection(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True
    server: _Server

    def handle(self) -> None:
        conn_id = next(self.server.connection_ids)
        self.server.sockets.add(self.connection)
        try:
            while (request := read_request(self.rfile)) is not None:
                reply = self.server.backend.run(request.db, request.command, conn_id)
                if not request.more_to_come:
                    self.wfile.write(encode_reply(request, reply))
        except (ProtocolError, ConnectionError, OSError) as exc:
            log.debug("mongo_wire: connection %d closed: %s", conn_id, exc)
        finally:
            self.server.sockets.discard(self.connection)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        self.connection_ids = itertools.count(1)
        self.sockets: set[Any] = set()
        super().__init__(address, _Connection)


@dataclass
class MongoWire:
    """A running front: `url` for MONGODB_CONNECTION_URI, `backend.client` for a direct look."""

    server: _Server
    thread: threading.Thread
    backend: Backend = field(init=False)

    def __post_init__(self) -> None:
        self.backend = self.server.backend

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        # directConnection: a standalone, no replica-set discovery.
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def stop(self) -> None:
        self.server.shutdown()
        for sock in list(self.server.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(port: int = 0, backend: Backend | None = None) -> MongoWire:
    """Starts a front on 127.0.0.1:`port` (0: a free one) on a daemon thread."""
    server = _Server(("127.0.0.1", port), backend or Backend())
    thread = threading.Thread(target=server.serve_forever, name="mongo-wire", daemon=True)
    thread.start()
    return MongoWire(server, thread)
