"""Framing of the MongoDB wire protocol: what a client sends, what the server answers.

Every message starts with a 16-byte header (length, requestID, responseTo, opCode, int32
little-endian). OP_MSG (2013) carries flagBits, one kind-0 section (the command document)
and kind-1 sections (document sequences: `documents`, `updates`, `deletes` of bulk writes,
which belong in the command under their identifier). OP_QUERY (2004) is the legacy form a
driver may use for its first `isMaster`; it is answered with OP_REPLY (1).
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from typing import Any, Protocol

import bson

HEADER = struct.Struct("<iiii")
INT32 = struct.Struct("<i")
OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
CHECKSUM_PRESENT = 1 << 0
# The client expects no answer (unacknowledged writes, w=0).
MORE_TO_COME = 1 << 1
_request_ids = itertools.count(1)


class Stream(Protocol):
    def read(self, size: int, /) -> bytes | None: ...


class ProtocolError(Exception):
    """A message this front cannot read (e.g. OP_COMPRESSED: it advertises no compressor)."""


@dataclass
class Request:
    request_id: int
    op_code: int
    db: str
    command: dict[str, Any]
    more_to_come: bool = False


def _read_exact(stream: Stream, size: int) -> bytes:
    data = stream.read(size)
    return data if data is not None else b""


def read_request(stream: Stream) -> Request | None:
    """The next message on the connection, or None once the client has closed it."""
    header = _read_exact(stream, HEADER.size)
    if len(header) < HEADER.size:
        return None
    length, request_id, _, op_code = HEADER.unpack(header)
    body = _read_exact(stream, length - HEADER.size)
    if len(body) < length - HEADER.size:
        return None
    if op_code == OP_MSG:
        return _op_msg(request_id, body)
    if op_code == OP_QUERY:
        return _op_query(request_id, body)
    raise ProtocolError(f"opCode {op_code} is not supported")


def _op_msg(request_id: int, body: bytes) -> Request:
    (flags,) = struct.unpack_from("<I", body)
    end = len(body) - (4 if flags & CHECKSUM_PRESENT else 0)
    pos, command, sequences = 4, None, {}
    while pos < end:
        kind, pos = body[pos], pos + 1
        (size,) = INT32.unpack_from(body, pos)
        if kind == 0:
            command = bson.decode(body[pos:pos + size])
        elif kind == 1:
            name_end = body.index(b"\0", pos + 4)
            identifier = body[pos + 4:name_end].decode()
            sequences[identifier] = bson.decode_all(body[name_end + 1:pos + size])
        else:
            raise ProtocolError(f"OP_MSG section kind {kind} is not supported")
        pos += size
    if command is None:
        raise ProtocolError("OP_MSG without a command section")
    command.update(sequences)
    db = str(command.pop("$db", "admin"))
    return Request(request_id, OP_MSG, db, command, bool(flags & MORE_TO_COME))


def _op_query(request_id: int, body: bytes) -> Request:
    name_end = body.index(b"\0", 4)
    namespace = body[4:name_end].decode()
    # Skip numberToSkip and numberToReturn (int32 each): only commands come this way.
    (size,) = INT32.unpack_from(body, name_end + 9)
    query = bson.decode(body[name_end + 9:name_end + 9 + size])
    command = query.get("$query", query)
    return Request(request_id, OP_QUERY, namespace.split(".", 1)[0], dict(command))


def encode_reply(request: Request, reply: dict[str, Any]) -> bytes:
    """The answer to `request`, in the form it was asked in."""
    document = bson.encode(reply)
    if request.op_code == OP_MSG:
        body, op_code = struct.pack("<IB", 0, 0) + document, OP_MSG
    else:
        # responseFlags, cursorID, startingFrom, numberReturned, then the one document.
        body, op_code = struct.pack("<iqii", 0, 0, 0, 1) + document, OP_REPLY
    return HEADER.pack(HEADER.size + len(body), next(_request_ids), request.request_id, op_code) + body
