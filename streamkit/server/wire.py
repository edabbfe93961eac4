"""The JSON 1.0 body codec: orjson, base64 binary values, CRC32 and request ids.

Inside the engine, ``B`` values are ``bytes`` and ``BS`` values lists of ``bytes``; on the wire
both are base64 text. This module converts in both directions and nothing else.
"""

from __future__ import annotations

import binascii
import itertools
import os
import zlib
from base64 import b64encode
from typing import Any

import orjson

from streamkit.errors import SerializationException

__all__ = ["crc32", "decode_binary", "dumps", "encode_binary", "loads", "new_request_id"]

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
    # Binary values are the only ones that need a walk; skip it when none can be present.
    # A JSON escape could spell "B" in disguise, so any backslash-u forces the walk too.
    if b'"B' in body or b"\\u" in body:
        decoded = decode_binary(data)
        assert isinstance(decoded, dict)
        return decoded
    return data


def decode_binary(value: Any) -> Any:
    """Return ``value`` with every ``{"B": str}`` / ``{"BS": [str, ...]}`` base64-decoded.

    Raises:
        SerializationException: a binary value is not valid base64.
    """
    if isinstance(value, dict):
        if len(value) == 1:
            if isinstance(b := value.get("B"), str):
                return {"B": _b64decode(b)}
            bs = value.get("BS")
            if isinstance(bs, list) and all(isinstance(v, str) for v in bs):
                return {"BS": [_b64decode(v) for v in bs]}
        return {k: decode_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_binary(v) for v in value]
    return value


def encode_binary(value: Any) -> Any:
    """Return ``value`` with every ``bytes`` turned into base64 text (the inverse of decode)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: encode_binary(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode_binary(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """Serialise a response dict; ``bytes`` anywhere become base64 text."""
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _b64decode(text: str) -> bytes:
    if len(text) % 4:
        raise SerializationException(
            f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(text)}"
        )
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SerializationException("Invalid Base64 value for a binary attribute") from None
