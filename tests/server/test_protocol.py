"""The JSON 1.0 protocol in process: routing, shapes, error bodies, headers, binary values."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import streamkit
from streamkit.errors import for_code
from streamkit.server import Dispatcher
from streamkit.server.sigv4 import sign_headers
from streamkit.testing import ManualClock
from tests.server.conftest import PREFIX, TABLE, SingleEngine, call

pytestmark = pytest.mark.usefixtures("engine")


async def test_put_then_get_round_trips_binary(dispatcher: Dispatcher) -> None:
    await call(dispatcher, "CreateTable", TABLE)
    blob = base64.b64encode(b"\x00\xffbinary").decode()
    item: dict[str, Any] = {
        "pk": {"S": "a"},
        "b": {"B": blob},
        "bs": {"BS": [base64.b64encode(b"1").decode(), base64.b64encode(b"2").decode()]},
        "nested": {"M": {"inner": {"B": blob}}},
        "n": {"N": "1.50"},
    }
    status, _, _ = await call(dispatcher, "PutItem", {"TableName": "things", "Item": item})
    assert status == 200
    status, _, body = await call(
        dispatcher, "GetItem", {"TableName": "things", "Key": {"pk": {"S": "a"}}}
    )
    assert status == 200
    assert body["Item"]["b"] == {"B": blob}
    assert body["Item"]["nested"] == {"M": {"inner": {"B": blob}}}
    assert sorted(body["Item"]["bs"]["BS"]) == sorted(item["bs"]["BS"])


async def test_engine_sees_bytes(dispatcher: Dispatcher, engine: streamkit.Engine) -> None:
    await call(dispatcher, "CreateTable", TABLE)
    item = {"pk": {"S": "a"}, "b": {"B": base64.b64encode(b"xyz").decode()}}
    await call(dispatcher, "PutItem", {"TableName": "things", "Item": item})
    got = await engine.get_item(TableName="things", Key={"pk": {"S": "a"}})
    assert got["Item"]["b"] == {"B": b"xyz"}


async def test_headers_carry_request_id_and_crc32(dispatcher: Dispatcher) -> None:
    status, headers, payload = await dispatcher.dispatch("us-east-1", PREFIX + "ListTables", b"{}")
    found = dict(headers)
    assert status == 200
    assert found["Content-Type"] == "application/x-amz-json-1.0"
    assert len(found["x-amzn-RequestId"]) == 52
    assert found["x-amz-crc32"] == str(zlib.crc32(payload))


async def test_request_ids_differ(dispatcher: Dispatcher) -> None:
    ids = {
        dict((await dispatcher.dispatch("us-east-1", PREFIX + "ListTables", b"{}"))[1])[
            "x-amzn-RequestId"
        ]
        for _ in range(3)
    }
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("DynamoDB_20120810.Nope", None),
        ("DynamoDB_20111205.PutItem", None),
        ("", None),
        ("DynamoDB_20120810.", None),
        ("DynamoDB_20120810.DescribeKinesisStreamingDestination", "not implement"),
    ],
)
async def test_unknown_operation(dispatcher: Dispatcher, target: str, message: str | None) -> None:
    status, _, payload = await dispatcher.dispatch("us-east-1", target, b"{}")
    body = orjson.loads(payload)
    assert status == 400
    assert body["__type"] == "com.amazon.coral.service#UnknownOperationException"
    if message is None:
        assert "message" not in body
    else:
        assert message in body["message"]


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'"x"', b"1", b"null", b"\xff\xfe", b'{"Item": {"b": {"B": "abc"}}}'],
    ids=["empty", "truncated", "list", "string", "number", "null", "not-utf8", "bad-base64"],
)
async def test_serialization_errors(dispatcher: Dispatcher, raw: bytes) -> None:
    status, _, payload = await dispatcher.dispatch("us-east-1", PREFIX + "PutItem", raw)
    assert status == 400
    assert orjson.loads(payload)["__type"] == "com.amazon.coral.service#SerializationException"


async def test_engine_errors_keep_their_namespace(dispatcher: Dispatcher) -> None:
    status, _, body = await call(dispatcher, "DescribeTable", {"TableName": "missing"})
    assert status == 400
    assert body["__type"] == "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
    assert body["message"].startswith("Requested resource not found")
    status, _, body = await call(dispatcher, "DescribeTable", {})
    assert body["__type"] == "com.amazon.coral.validate#ValidationException"


async def test_conditional_failure(dispatcher: Dispatcher) -> None:
    await call(dispatcher, "CreateTable", TABLE)
    put = {"TableName": "things", "Item": {"pk": {"S": "a"}}}
    await call(dispatcher, "PutItem", put)
    status, _, body = await call(
        dispatcher, "PutItem", {**put, "ConditionExpression": "attribute_not_exists(pk)"}
    )
    assert status == 400
    assert body["__type"].endswith("#ConditionalCheckFailedException")
    assert for_code(body["__type"]).__name__ == "ConditionalCheckFailedException"


@pytest.mark.parametrize(
    ("operation", "members"),
    [
        (
            "Query",
            {"KeyConditionExpression": "pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}},
        ),
        ("Scan", {}),
    ],
)
async def test_reads_send_stored_items_unparsed(
    dispatcher: Dispatcher,
    engine: streamkit.Engine,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    members: dict[str, Any],
) -> None:
    await call(dispatcher, "CreateTable", TABLE)
    item = {"pk": {"S": "a"}, "s": {"S": "\u00e9"}, "n": {"N": "1.5"}}
    await call(dispatcher, "PutItem", {"TableName": "things", "Item": item})
    encoded = getattr(engine, engine.ENCODED_OPERATIONS[operation])
    fragments: list[object] = []

    async def spy(**params: Any) -> dict[str, Any]:
        out: dict[str, Any] = await encoded(**params)
        fragments.extend(i for i in out["Items"] if isinstance(i, orjson.Fragment))
        return out

    monkeypatch.setattr(engine, engine.ENCODED_OPERATIONS[operation], spy)
    status, _, body = await call(dispatcher, operation, {"TableName": "things", **members})
    assert status == 200
    assert body["Items"] == [item]
    assert len(fragments) == 1


async def test_region_is_passed_to_the_source(engine: streamkit.Engine) -> None:
    source = SingleEngine(engine)
    dispatcher = Dispatcher(source)
    headers = sign_headers(
        access_key="AK",
        secret="x",
        region="eu-north-1",
        method="POST",
        target="/",
        headers=[
            ("host", "h"),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", PREFIX + "ListTables"),
        ],
        body=b"{}",
        now=1_700_000_000,
    )
    status, _, _ = await dispatcher.handle("POST", "/", headers, b"{}")
    assert status == 200
    assert source.regions == ["eu-north-1"]


class TestHttpLevel:
    async def test_health_check(self, dispatcher: Dispatcher) -> None:
        status, _, body = await dispatcher.handle("GET", "/", [], b"")
        assert status == 200
        assert body.startswith(b"healthy: dynamodb.")

    async def test_other_methods_are_not_found(self, dispatcher: Dispatcher) -> None:
        status, _, body = await dispatcher.handle("PUT", "/", [], b"{}")
        assert status == 404
        assert body == b"<UnknownOperationException/>\n"

    async def test_wrong_content_type(self, dispatcher: Dispatcher) -> None:
        headers = [("content-type", "text/plain"), ("x-amz-target", PREFIX + "ListTables")]
        status, _, _ = await dispatcher.handle("POST", "/", headers, b"{}")
        assert status == 404

    @pytest.mark.parametrize("content_type", ["application/x-amz-json-1.0", "application/json"])
    async def test_json_content_types(self, dispatcher: Dispatcher, content_type: str) -> None:
        headers = [("content-type", content_type), ("x-amz-target", PREFIX + "ListTables")]
        status, _, _ = await dispatcher.handle("POST", "/", headers, b"{}")
        assert status == 200


class TestAuth:
    def signed(
        self, secret: str = "s3cr3t", now: float = 1_700_000_000, body: bytes = b"{}"
    ) -> list[tuple[str, str]]:
        return sign_headers(
            access_key="AKID",
            secret=secret,
            region="us-west-2",
            method="POST",
            target="/",
            headers=[
                ("host", "localhost:8000"),
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", PREFIX + "ListTables"),
            ],
            body=body,
            now=now,
        )

    def dispatcher(self, engine: streamkit.Engine, clock: ManualClock) -> Dispatcher:
        from streamkit.server.sigv4 import Verifier

        return Dispatcher(SingleEngine(engine), verifier=Verifier({"AKID": "s3cr3t"}), clock=clock)

    async def test_valid_signature(self, engine: streamkit.Engine, clock: ManualClock) -> None:
        status, _, _ = await self.dispatcher(engine, clock).handle(
            "POST", "/", self.signed(now=clock.now()), b"{}"
        )
        assert status == 200

    @pytest.mark.parametrize(
        ("case", "code"),
        [
            ("forged", "InvalidSignatureException"),
            ("unsigned", "MissingAuthenticationTokenException"),
            ("expired", "InvalidSignatureException"),
            ("tampered", "InvalidSignatureException"),
        ],
    )
    async def test_rejections(
        self, engine: streamkit.Engine, clock: ManualClock, case: str, code: str
    ) -> None:
        body = b"{}"
        if case == "forged":
            headers = self.signed(secret="guess", now=clock.now())
        elif case == "unsigned":
            headers = [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", PREFIX + "ListTables"),
            ]
        elif case == "expired":
            headers = self.signed(now=clock.now() - 3600)
        else:
            headers = self.signed(now=clock.now())
            body = b'{"Limit": 1}'
        status, _, payload = await self.dispatcher(engine, clock).handle("POST", "/", headers, body)
        assert status == 400
        assert orjson.loads(payload)["__type"] == f"com.amazon.coral.service#{code}"

    async def test_rejected_write_leaves_data_unchanged(
        self, engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        await engine.create_table(**TABLE)
        body = orjson.dumps({"TableName": "things", "Item": {"pk": {"S": "x"}}})
        headers = [
            (k, v.replace(PREFIX + "ListTables", PREFIX + "PutItem"))
            for k, v in self.signed(secret="guess", now=clock.now(), body=body)
        ]
        status, _, _ = await self.dispatcher(engine, clock).handle("POST", "/", headers, body)
        assert status == 400
        assert "Item" not in await engine.get_item(TableName="things", Key={"pk": {"S": "x"}})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["TableName", "Item", "Key", "S", "N", "B", "BS", "M", "L", "pk", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
targets = st.sampled_from(
    [PREFIX + op for op in streamkit.Engine.OPERATIONS]
    + ["DynamoDBStreams_20120810.GetRecords", "garbage", "", PREFIX + "Query"]
) | st.text(max_size=30)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=targets, body=json_values.map(orjson.dumps) | st.binary(max_size=40))
async def test_fuzzed_requests_never_fail_inside(
    dispatcher: Dispatcher, target: str, body: bytes
) -> None:
    status, _, payload = await dispatcher.dispatch("us-east-1", target, body)
    assert status == 200 or status == 400, payload
    assert b"Traceback" not in payload
    if status == 400:
        parsed = orjson.loads(payload)
        assert parsed["__type"].count("#") == 1


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "HEAD"]),
    target=st.text(max_size=20),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["authorization", "x-amz-target", "content-type", "x-amz-date", "x"]),
            st.text(max_size=60),
        ),
        max_size=5,
    ),
    body=st.binary(max_size=40),
)
async def test_fuzzed_http_requests_never_fail_inside(
    dispatcher: Dispatcher,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    status, _, payload = await dispatcher.handle(method, target, headers, body)
    assert status in (200, 400, 404), payload
    assert b"Traceback" not in payload
