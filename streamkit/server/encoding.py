"""Content codings: compressed request bodies in, compressed response bodies out.

Requests: a body sent with ``Content-Encoding: gzip`` or ``deflate`` (or a list of them,
applied in order) is decompressed after its signature is checked (SigV4 signs the bytes as
sent) and before it is parsed. Decompression stops at the request size limit, so a small
body that would inflate to gigabytes costs at most that limit in memory. ``deflate`` is the
zlib format of RFC 9110; raw deflate streams, which some clients send under that name, are
accepted too.

Responses: when the client accepts ``gzip`` or ``deflate`` (``Accept-Encoding``, q-values
honoured, several headers allowed) a body of at least :data:`MIN_COMPRESSED` bytes goes out
compressed. DynamoDB does the same above a threshold it does not document, and computes
``x-amz-crc32`` over the compressed bytes; so do we. Small bodies are never compressed: for
them the CPU costs more than the bytes saved.

DynamoDB's wording for a body it cannot decompress is not published; the messages here are
our own (docs/differences.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Final

__all__ = [
    "MIN_COMPRESSED",
    "BadEncodingError",
    "BodyTooLargeError",
    "compress",
    "decode_body",
    "pick_encoding",
]

#: Response bodies shorter than this go out as they are.
MIN_COMPRESSED: Final = 1024
_LEVEL: Final = 5  # zlib's 6 costs ~30% more CPU on item JSON for ~2% fewer bytes
_STEP: Final = 64 * 1024  # output produced per decompression call


class BadEncodingError(ValueError):
    """The body is not valid data of its declared coding, or the coding is unknown."""


class BodyTooLargeError(ValueError):
    """The body decompresses past the request size limit."""


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """Return ``body`` with the codings of ``content_encoding`` undone, at most ``limit`` bytes.

    Raises:
        BadEncodingError: an unknown coding, or a body that is not (whole) data of its coding.
        BodyTooLargeError: the decoded body would be longer than ``limit``.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    for coding in reversed(codings):  # the last coding listed was applied last
        if coding in ("", "identity"):
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, 16 + zlib.MAX_WBITS, limit, "gzip")
        elif coding == "deflate":
            wbits = zlib.MAX_WBITS if _zlib_header(body) else -zlib.MAX_WBITS
            body = _inflate(body, wbits, limit, "deflate")
        else:
            raise BadEncodingError(f"Unsupported Content-Encoding: {coding}")
    return body


def _zlib_header(data: bytes) -> bool:
    """Return whether ``data`` starts with a zlib header (else: a raw deflate stream)."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, wbits: int, limit: int, name: str) -> bytes:
    out: list[bytes] = []
    size = 0
    while True:  # a gzip body may hold several members, one after another
        decoder = zlib.decompressobj(wbits)
        pending = data
        try:
            # Loop on eof, not on input left: a raw deflate stream has no trailer, so its last
            # byte can be consumed while the final match's output is still pending.
            while not decoder.eof:
                chunk = decoder.decompress(pending, min(_STEP, limit - size + 1))
                size += len(chunk)
                if size > limit:
                    raise BodyTooLargeError(f"Request body decompresses to more than {limit} bytes")
                out.append(chunk)
                pending = decoder.unconsumed_tail
                if not chunk and not pending:
                    break  # input used up and no output pending: truncated (checked below)
        except zlib.error:
            raise BadEncodingError(f"Request body is not valid {name} data") from None
        if not decoder.eof:
            raise BadEncodingError(f"Request body is truncated {name} data")
        data = decoder.unused_data
        if not data or wbits < 16:
            if data:
                raise BadEncodingError(f"Request body has bytes after its {name} data")
            return b"".join(out)


def pick_encoding(accept_encoding: Iterable[str]) -> str | None:
    """Return ``"gzip"``, ``"deflate"`` or None from the client's Accept-Encoding values."""
    weights: dict[str, float] = {}
    for header in accept_encoding:
        for item in header.split(","):
            name, _, params = item.partition(";")
            name = name.strip().lower()
            if not name:
                continue
            weight = 1.0
            for param in params.split(";"):
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        weight = float(value)
                    except ValueError:
                        weight = 0.0
            weights[name] = weight
    for coding in ("gzip", "deflate"):
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > 0:
            return coding
    return None


def compress(body: bytes, coding: str) -> bytes:
    """Return ``body`` compressed with ``coding`` (``"gzip"`` or ``"deflate"``)."""
    wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
    encoder = zlib.compressobj(_LEVEL, zlib.DEFLATED, wbits)
    return encoder.compress(body) + encoder.flush()
