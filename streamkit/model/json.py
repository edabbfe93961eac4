"""AttributeValues <-> DynamoDB JSON, where binaries travel as base64 text.

In memory a ``B`` payload is ``bytes`` and a ``BS`` payload a list of ``bytes``; in JSON (request
and response bodies, Lambda events, CLI output, stream tools) both are base64 text. Every
conversion between the two forms is here; :mod:`streamkit.model.native` turns either form into
plain Python values.

Two kinds of walk: :func:`decode_binary` / :func:`encode_binary` go through any JSON-like value
(a whole request or response body) and :func:`json_default` is the ``default=`` hook for
``orjson``/``json``; :func:`binaries_to_text` knows the AttributeValue shape and is ~7x faster
than the generic walk, for items on the stream and Lambda paths.
"""

from __future__ import annotations

import binascii
from typing import Any

from streamkit.errors import SerializationException

__all__ = [
    "binaries_to_text",
    "decode_b64",
    "decode_binary",
    "encode_b64",
    "encode_binary",
    "json_default",
]


def encode_b64(data: bytes | bytearray | memoryview) -> str:
    """Return ``data`` as standard base64 text (padded, no newline)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def decode_b64(text: str) -> bytes:
    """Return the bytes of a base64 binary value, as strictly as DynamoDB reads them.

    Raises:
        SerializationException: ``text`` is not a whole number of padded base64 quads.
    """
    if len(text) % 4:
        raise SerializationException(
            f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(text)}"
        )
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SerializationException("Invalid Base64 value for a binary attribute") from None


def decode_binary(value: Any) -> Any:
    """Return ``value`` with every ``{"B": str}`` / ``{"BS": [str, ...]}`` base64-decoded.

    Any JSON-like value is walked (a whole request body); members already ``bytes`` are kept.

    Raises:
        SerializationException: a binary value is not valid base64.
    """
    try:
        return _decode_binary(value)
    except RecursionError:  # orjson parses ~1,000 levels, deeper than the stack lets us recurse
        return _decode_binary_deep(value)


def _decode_binary(value: Any) -> Any:
    # Recursive, with _binary_value inlined: the server's path, ~20% faster than the stack.
    if isinstance(value, dict):
        if len(value) == 1:
            if isinstance(b := value.get("B"), str):
                return {"B": decode_b64(b)}
            bs = value.get("BS")
            if isinstance(bs, list) and all(isinstance(v, str | bytes) for v in bs):
                return {"BS": [decode_b64(v) if isinstance(v, str) else v for v in bs]}
        return {k: _decode_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_binary(v) for v in value]
    return value


def _binary_value(value: dict[str, Any]) -> dict[str, Any] | None:
    """Return a one-member ``{"B": str}`` / ``{"BS": [...]}`` decoded, else None."""
    if isinstance(b := value.get("B"), str):
        return {"B": decode_b64(b)}
    bs = value.get("BS")
    if isinstance(bs, list) and all(isinstance(v, str | bytes) for v in bs):
        return {"BS": [decode_b64(v) if isinstance(v, str) else v for v in bs]}
    return None


def _decode_binary_deep(value: Any) -> Any:
    """:func:`decode_binary` with an explicit stack, for values nested too deep to recurse."""
    root = [value]
    pending: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while pending:
        parent, slot, node = pending.pop()
        if isinstance(node, dict):
            if len(node) == 1 and (decoded := _binary_value(node)) is not None:
                parent[slot] = decoded
                continue
            mapping = parent[slot] = dict(node)
            children = [(mapping, k, v) for k, v in node.items() if isinstance(v, dict | list)]
            pending.extend(reversed(children))  # document order: the first bad value is named
        elif isinstance(node, list):
            array = parent[slot] = list(node)
            items = [(array, i, v) for i, v in enumerate(node) if isinstance(v, dict | list)]
            pending.extend(reversed(items))
    return root[0]


def encode_binary(value: Any) -> Any:
    """Return a copy of a JSON-like ``value`` with every bytes-like turned into base64 text
    and every set or tuple into a list (the inverse of :func:`decode_binary`)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return encode_b64(value)
    if isinstance(value, dict):
        return {k: encode_binary(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode_binary(v) for v in value]
    return value


def json_default(value: Any) -> Any:
    """The ``default=`` hook of ``orjson.dumps``: bytes-likes as base64 text, sets and tuples
    as lists.

    Raises:
        TypeError: anything else.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return encode_b64(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def binaries_to_text(item: dict[str, Any]) -> dict[str, Any]:
    """Turn the B/BS payloads of an item into base64 text, in place, and return the item.

    Only M and L values are descended into and payloads already text are left alone, so an
    AttributeValue shared between two images (a key attribute) is converted once. The item
    must be one the caller owns.
    """
    for value in item.values():
        _value_to_text(value)
    return item


def _value_to_text(value: dict[str, Any]) -> None:
    for tag, payload in value.items():
        if tag == "B":
            if not isinstance(payload, str):
                value["B"] = encode_b64(payload)
        elif tag == "M":
            for member in payload.values():
                _value_to_text(member)
        elif tag == "L":
            for member in payload:
                _value_to_text(member)
        elif tag == "BS":
            value["BS"] = [p if isinstance(p, str) else encode_b64(p) for p in payload]
        return
