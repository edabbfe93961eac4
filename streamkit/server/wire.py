"""The JSON 1.0 body codec: orjson, base64 binary values, CRC32 and request ids.

Inside the engine, ``B`` values are ``bytes`` and ``BS`` values lists of ``bytes``; on the wire
both are base64 text, converted by :mod:`streamkit.model.json`.
"""

from __future__ import annotations

import itertools
import os
import zlib
from typing import Any

import orjson

from streamkit.errors import SerializationException
from streamkit.model.json import decode_binary, json_default

__all__ = ["crc32", "dumps", "loads", "new_request_id"]

_REQUEST_ID_PREFIX = os.urandom(16).hex().upper()
_request_counter = itertools.count(1)


def new_request_id() -> str:
    """Return a fresh 52-character upper-case request id, like DynamoDB's."""
    return f"{_REQUEST_ID_PREFIX}{next(_request_counter):020X}"


def crc32(body: bytes) -> str:
    """Return the ``x-amz-crc32`` header value for a response body."""
    return str(zlib.crc32(body) & 0xFFFFFFFF)


def loads(body: bytes) -> dict[str, Any]:
    """Parse a request body into its top-level members, decoding binary values.

    Raises:
        SerializationException: the body is not JSON, is not an object, or holds bad base64.
    """
    if not body:
        raise SerializationException()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationException("") from None
    if not isinstance(data, dict):
        raise SerializationException(
            "Start of list found where not expected"
            if isinstance(data, list)
            else "Unexpected token received from parser"
        )
    # Binary values are the only ones that need a walk; skip it when none can be present: a
    # binary value has the member "B" or "BS", closing quote included (``"B`` alone would
    # also match every BOOL value). A JSON escape could spell either in disguise, so any
    # backslash-u forces the walk too. ``find``, not ``in``: CPython 3.11's ``bytes in bytes``
    # first tries the needle as an integer and formats (then drops) a TypeError every time.
    if body.find(b"\\u") >= 0 or (
        body.find(b'"B') >= 0 and (body.find(b'"B"') >= 0 or body.find(b'"BS"') >= 0)
    ):
        decoded = decode_binary(data)
        assert isinstance(decoded, dict)
        return decoded
    return data


def dumps(value: Any) -> bytes:
    """Serialise a response dict; ``bytes`` anywhere become base64 text."""
    return orjson.dumps(value, default=json_default)
