"""Content codings: compressed request bodies and compressed responses (server/encoding.py)."""

from __future__ import annotations

import contextlib
import gzip
import zlib

import pytest
from hypothesis import given, strategies as st

from streamkit.server.encoding import (
    MIN_COMPRESSED,
    BadEncodingError,
    BodyTooLargeError,
    compress,
    decode_body,
    pick_encoding,
)

LIMIT = 16 * 1024 * 1024


def raw_deflate(data: bytes) -> bytes:
    encoder = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return encoder.compress(data) + encoder.flush()


class TestDecodeBody:
    @given(st.binary(max_size=4096))
    def test_every_coding_round_trips(self, data: bytes) -> None:
        assert decode_body(gzip.compress(data), "gzip", LIMIT) == data
        assert decode_body(zlib.compress(data), "deflate", LIMIT) == data
        assert decode_body(raw_deflate(data), "Deflate", LIMIT) == data
        assert decode_body(data, "identity", LIMIT) == data

    @pytest.mark.parametrize("size", [64 * 1024 + 1, 64 * 1024 + 100, 3 * 64 * 1024 + 7])
    def test_raw_deflate_ending_past_a_step(self, size: int) -> None:
        # A raw deflate stream has no trailer: its last input byte can be read while the final
        # match's output is still pending, so the decoder must drain it, not call it truncated.
        data = b"\0" * size
        assert decode_body(raw_deflate(data), "deflate", LIMIT) == data

    def test_codings_are_undone_last_first(self) -> None:
        body = gzip.compress(zlib.compress(b'{"a": 1}'))
        assert decode_body(body, "deflate, gzip", LIMIT) == b'{"a": 1}'

    def test_concatenated_gzip_members(self) -> None:
        assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", LIMIT) == b"abcd"

    def test_unknown_coding(self) -> None:
        with pytest.raises(BadEncodingError, match="Unsupported Content-Encoding: br"):
            decode_body(b"x", "br", LIMIT)

    def test_truncated_body(self) -> None:
        whole = gzip.compress(b"x" * 10_000)
        with pytest.raises(BadEncodingError, match="truncated gzip"):
            decode_body(whole[: len(whole) // 2], "gzip", LIMIT)

    def test_trailing_bytes_after_deflate(self) -> None:
        with pytest.raises(BadEncodingError, match="after its deflate data"):
            decode_body(zlib.compress(b"{}") + b"junk", "deflate", LIMIT)

    def test_a_bomb_stops_at_the_limit(self) -> None:
        bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB in ~64 KB
        with pytest.raises(BodyTooLargeError, match="more than 1048576 bytes"):
            decode_body(bomb, "gzip", 1024 * 1024)

    def test_exactly_the_limit_is_accepted(self) -> None:
        assert len(decode_body(gzip.compress(b"a" * 1000), "gzip", 1000)) == 1000
        with pytest.raises(BodyTooLargeError):
            decode_body(gzip.compress(b"a" * 1001), "gzip", 1000)

    @given(st.binary(max_size=512), st.sampled_from(["gzip", "deflate", "x-gzip", "gzip, gzip"]))
    def test_garbage_fails_only_with_the_encoding_errors(self, data: bytes, coding: str) -> None:
        with contextlib.suppress(BadEncodingError, BodyTooLargeError):
            decode_body(data, coding, 4096)

    @given(st.binary(min_size=1, max_size=2048), st.integers(0, 4096))
    def test_corrupted_gzip_fails_cleanly(self, data: bytes, flip: int) -> None:
        body = bytearray(gzip.compress(data))
        body[flip % len(body)] ^= 0xFF
        try:
            out = decode_body(bytes(body), "gzip", LIMIT)
        except (BadEncodingError, BodyTooLargeError):
            return
        assert isinstance(out, bytes)


class TestPickEncoding:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ([], None),
            (["gzip"], "gzip"),
            (["deflate"], "deflate"),
            (["gzip, deflate, br"], "gzip"),
            (["br"], None),
            (["identity"], None),
            (["gzip;q=0, deflate"], "deflate"),
            (["gzip;q=0", "deflate;q=0.5"], "deflate"),
            (["*"], "gzip"),
            (["*;q=0"], None),
            (["*", "gzip;q=0"], "deflate"),
            (["GZIP ; q=1.0"], "gzip"),
            (["gzip;q=nonsense"], None),
        ],
    )
    def test_negotiation(self, headers: list[str], expected: str | None) -> None:
        assert pick_encoding(headers) == expected

    @given(st.lists(st.text(max_size=40), max_size=4))
    def test_garbage_headers_never_raise(self, headers: list[str]) -> None:
        assert pick_encoding(headers) in (None, "gzip", "deflate")


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compress_is_the_inverse_of_decode(coding: str) -> None:
    body = b'{"Items": [' + b'{"pk": {"S": "x"}},' * MIN_COMPRESSED + b"]}"
    packed = compress(body, coding)
    assert len(packed) < len(body) // 10
    assert decode_body(packed, coding, LIMIT) == body
