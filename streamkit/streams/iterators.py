"""Shard iterators: opaque, tamper-evident tokens naming a shard, a position and an issue time.

A token is ``<StreamArn>|1|<base64url(payload + mac)>`` (the shape DynamoDB's iterators have).
The payload packs the shard's internal id, the position (records with a larger sequence number
come next), whether the position is still the trim horizon, and the issue time; the MAC is an
HMAC-SHA256 over the ARN and payload with a per-database secret, cut to 16 bytes. A token that
does not parse or whose MAC does not match is a ValidationException; nothing in it is trusted
before the MAC is checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Final

from streamkit.errors import ExpiredIteratorException, ValidationException

__all__ = ["ITERATOR_LIFETIME", "Position", "decode_iterator", "encode_iterator"]

ITERATOR_LIFETIME: Final = 15 * 60.0
_PAYLOAD: Final = struct.Struct(">qq?d")
_MAC_BYTES: Final = 16
_VERSION: Final = "1"
_INVALID: Final = "Invalid ShardIterator"


@dataclass(frozen=True, slots=True)
class Position:
    """Where an iterator points: records of shard ``sid`` with ``seq > after`` come next.

    ``horizon`` is true while the iterator still means "the oldest record available" (a
    TRIM_HORIZON iterator that has not returned a record yet): trimming never makes it fail.
    """

    arn: str
    sid: int
    after: int
    horizon: bool
    issued: float


def _mac(secret: bytes, arn: str, payload: bytes) -> bytes:
    return hmac.new(secret, arn.encode() + b"|" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_iterator(secret: bytes, position: Position) -> str:
    """Return the token for ``position``, signed with ``secret``."""
    payload = _PAYLOAD.pack(position.sid, position.after, position.horizon, position.issued)
    blob = base64.urlsafe_b64encode(payload + _mac(secret, position.arn, payload)).decode()
    return f"{position.arn}|{_VERSION}|{blob}"


def decode_iterator(secret: bytes, token: object, *, now: float | None = None) -> Position:
    """Check a token's shape and MAC and return its position.

    Raises:
        ValidationException: the token is not a string of 1-2048 characters, is malformed, or
            was not issued by this database (forged or altered).
        ExpiredIteratorException: ``now`` is given and the token is older than 15 minutes.
    """
    if not isinstance(token, str):
        raise ValidationException(_INVALID)
    if not 1 <= len(token) <= 2048:
        raise ValidationException(
            "1 validation error detected: Value at 'shardIterator' failed to satisfy "
            "constraint: Member must have length "
            + ("greater than or equal to 1" if not token else "less than or equal to 2048")
        )
    arn, sep1, rest = token.partition("|")
    version, sep2, blob = rest.partition("|")
    if not (sep1 and sep2) or version != _VERSION or not arn.startswith("arn:"):
        raise ValidationException(_INVALID)
    try:
        raw = base64.b64decode(blob.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValidationException(_INVALID) from None
    if len(raw) != _PAYLOAD.size + _MAC_BYTES or base64.urlsafe_b64encode(raw).decode() != blob:
        raise ValidationException(_INVALID)
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not hmac.compare_digest(mac, _mac(secret, arn, payload)):
        raise ValidationException(_INVALID)
    sid, after, horizon, issued = _PAYLOAD.unpack(payload)
    if now is not None and now - issued > ITERATOR_LIFETIME:
        raise ExpiredIteratorException(
            "Iterator expired: the iterator was issued more than 15 minutes ago"
        )
    return Position(arn, sid, after, horizon, issued)
