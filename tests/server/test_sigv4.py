"""SigV4: botocore-signed requests verify; forged, stale and malformed ones get AWS's errors."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, strategies as st

from streamkit.errors import (
    DynamoDBError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from streamkit.server.sigv4 import (
    Verifier,
    parse_authorization,
    region_of,
    sign_headers,
)

NOW = 1_700_000_000.0
BODY = b'{"TableName":"t"}'
Headers = list[tuple[str, str]]


def botocore_signed(
    region: str = "eu-west-2", body: bytes = BODY, secret: str = "s3cr3t"
) -> Headers:
    """Sign a request exactly as boto3 does (at the real time; see ``signed_at``)."""
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:8000/",
        data=body,
        headers={
            "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    SigV4Auth(Credentials("AKIDEXAMPLE", secret), "dynamodb", region).add_auth(request)
    headers = [(k.lower(), v) for k, v in request.headers.items()]
    headers.append(("host", "127.0.0.1:8000"))
    return headers


def signed_at(headers: Headers) -> float:
    stamp = dict(headers)["x-amz-date"]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def verify(
    headers: Headers, body: bytes = BODY, now: float | None = None, secret: str = "s3cr3t"
) -> str:
    now = signed_at(headers) if now is None else now
    return Verifier({"AKIDEXAMPLE": secret}).verify(
        method="POST", target="/", headers=headers, body=body, now=now
    )


class TestVerify:
    def test_botocore_signature_verifies_and_names_region(self):
        assert verify(botocore_signed()) == "eu-west-2"

    def test_own_signer_round_trips(self):
        headers = sign_headers(
            access_key="AKIDEXAMPLE",
            secret="s3cr3t",
            region="ap-south-1",
            method="POST",
            target="/",
            headers=[("host", "localhost"), ("x-amz-target", "DynamoDB_20120810.ListTables")],
            body=b"{}",
            now=NOW,
        )
        assert verify(headers, body=b"{}") == "ap-south-1"

    def test_tampered_body_is_rejected_with_canonical_request(self):
        with pytest.raises(InvalidSignatureException) as err:
            verify(botocore_signed(), body=b'{"TableName":"u"}')
        assert err.value.message.startswith("The request signature we calculated does not match")
        assert "The Canonical String for this request should have been" in err.value.message

    def test_wrong_secret_is_rejected(self):
        with pytest.raises(InvalidSignatureException):
            verify(botocore_signed(secret="other"))

    def test_unknown_access_key(self):
        with pytest.raises(UnrecognizedClientException) as err:
            headers = botocore_signed()
            Verifier({"SOMEONE": "x"}).verify(
                method="POST", target="/", headers=headers, body=BODY, now=signed_at(headers)
            )
        assert err.value.message == "The security token included in the request is invalid."

    def test_missing_authorization(self):
        with pytest.raises(MissingAuthenticationTokenException) as err:
            verify([("host", "x"), ("x-amz-date", "20231114T221320Z")])
        assert err.value.message == "Request is missing Authentication Token"

    def test_expired(self):
        headers = botocore_signed()
        stamp = dict(headers)["x-amz-date"]
        now = signed_at(headers) + 301
        later = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        floor = datetime.fromtimestamp(now - 300, UTC).strftime("%Y%m%dT%H%M%SZ")
        with pytest.raises(InvalidSignatureException) as err:
            verify(headers, now=now)
        assert err.value.message == (
            f"Signature expired: {stamp} is now earlier than {floor} ({later} - 5 min.)"
        )

    def test_not_yet_current(self):
        headers = botocore_signed()
        with pytest.raises(InvalidSignatureException) as err:
            verify(headers, now=signed_at(headers) - 301)
        assert err.value.message.startswith("Signature not yet current: ")
        assert "is still later than" in err.value.message

    def test_within_skew_is_fine(self):
        headers = botocore_signed()
        assert verify(headers, now=signed_at(headers) + 299) == "eu-west-2"

    def test_missing_date(self):
        headers = [(k, v) for k, v in botocore_signed() if k != "x-amz-date"]
        with pytest.raises(IncompleteSignatureException, match="requires existence of either"):
            verify(headers, now=NOW)

    def test_bad_scope(self):
        headers = [
            (k, v.replace("/dynamodb/", "/s3/") if k == "authorization" else v)
            for k, v in botocore_signed()
        ]
        with pytest.raises(InvalidSignatureException, match="scoped to correct service"):
            verify(headers)

    def test_host_must_be_signed(self):
        headers = [
            (
                k,
                v.replace("SignedHeaders=", "SignedHeaders=x;").replace("host;", "")
                if k == "authorization"
                else v,
            )
            for k, v in botocore_signed()
        ]
        with pytest.raises(InvalidSignatureException, match="'Host' must be a 'SignedHeader'"):
            verify(headers)


class TestParse:
    def test_parts(self):
        auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AK/20231114/us-west-2/dynamodb/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc"
        )
        assert auth.scope[2] == "us-west-2"
        assert auth.signed_headers == ("host", "x-amz-date")

    def test_missing_parts_are_listed(self):
        with pytest.raises(IncompleteSignatureException) as err:
            parse_authorization("AWS4-HMAC-SHA256 Credential=a/b/c/d/e")
        assert "requires 'Signature' parameter" in err.value.message
        assert "requires 'SignedHeaders' parameter" in err.value.message

    def test_other_algorithm(self):
        with pytest.raises(IncompleteSignatureException, match="Unsupported AWS 'algorithm'"):
            parse_authorization("AWS4-HMAC-SHA1 Credential=a, SignedHeaders=host, Signature=x")

    @pytest.mark.parametrize(
        ("header", "region"),
        [
            (None, "us-east-1"),
            ("", "us-east-1"),
            ("Bearer abc", "us-east-1"),
            (
                "AWS4-HMAC-SHA256 Credential=AK/20231114/eu-central-1/dynamodb/aws4_request",
                "eu-central-1",
            ),
            ("AWS4-HMAC-SHA256 Credential=AK/2023", "us-east-1"),
        ],
    )
    def test_region_of(self, header, region):
        assert region_of(header, "us-east-1") == region

    @pytest.mark.parametrize("bad", ["..", "US-EAST-1", "a.b", "x" * 40, "-a", "a_b"])
    def test_region_must_be_a_safe_name(self, bad):
        with pytest.raises(InvalidSignatureException, match="valid region"):
            region_of(f"AWS4-HMAC-SHA256 Credential=AK/20231114/{bad}/dynamodb/aws4_request", "x")


headers_strategy = st.lists(
    st.tuples(
        st.sampled_from(
            ["authorization", "x-amz-date", "date", "host", "x-amz-content-sha256", "x"]
        ),
        st.text(max_size=200),
    ),
    max_size=6,
)


@given(header=st.text(max_size=300))
def test_parser_on_garbage_raises_only_dynamodb_errors(header: str) -> None:
    with contextlib.suppress(DynamoDBError):
        parse_authorization(header)
    with contextlib.suppress(DynamoDBError):
        region_of(header, "us-east-1")


@given(headers=headers_strategy, body=st.binary(max_size=64), target=st.text(max_size=50))
def test_verifier_on_garbage_raises_only_dynamodb_errors(
    headers: Headers, body: bytes, target: str
) -> None:
    try:
        Verifier({"AK": "secret"}).verify(
            method="POST", target=target, headers=headers, body=body, now=NOW
        )
    except DynamoDBError:
        pass
    else:
        raise AssertionError("garbage verified")


def test_region_names_kept_are_bounded_and_bad_ones_never_kept() -> None:
    from streamkit.server import sigv4

    for i in range(200):
        assert sigv4.region_of(f"AWS4-HMAC-SHA256 Credential=k/20261207/r{i}/dynamodb/x", "x") == (
            f"r{i}"
        )
    assert len(sigv4._REGIONS_SEEN) <= 64
    with pytest.raises(InvalidSignatureException):
        sigv4.region_of("AWS4-HMAC-SHA256 Credential=k/20261207/../dynamodb/x", "x")
    assert ".." not in sigv4._REGIONS_SEEN
