"""``streamkit template``: one function and one event-source mapping per mapping, every option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import streamkit
from streamkit.aws import DEPLOYED_AS, build_template
from streamkit.errors import ConfigurationError
from streamkit.mappings.config import OPTION_NAMES
from tests.cli.helpers import run

APP = "tests.aws.every_option_app:app"
ORDERS_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"


@pytest.fixture
def written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    """The template of the every-option app, written by the command, and its stderr."""
    path = tmp_path / "template.json"
    code, out, err = run(
        capsys, "template", APP, "--output", str(path), "--runtime", "python3.13",
        "--code-uri", "src", "--stream-arn", f"orders={ORDERS_ARN}",
    )  # fmt: skip
    assert code == 0, err
    assert f"wrote {path}: 3 function(s)" in out
    template: dict[str, Any] = json.loads(path.read_text())
    return template, err


def test_every_option_has_a_place_in_the_template() -> None:
    assert set(DEPLOYED_AS) == OPTION_NAMES


def test_the_mapping_with_every_option(written: tuple[dict[str, Any], str]) -> None:
    template, _ = written
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    resources = template["Resources"]
    assert list(resources) == [
        "AuditFunction", "AuditEventSourceMapping",
        "TotalsPerWindowFunction", "TotalsPerWindowEventSourceMapping",
        "PlainFunction", "PlainEventSourceMapping",
    ]  # fmt: skip
    esm = resources["AuditEventSourceMapping"]
    assert esm["Type"] == "AWS::Lambda::EventSourceMapping"
    props = esm["Properties"]
    assert props.pop("FunctionName") == {"Ref": "AuditFunction"}
    assert props.pop("EventSourceArn") == {"Ref": "OrdersStreamArn"}
    assert props.pop("BatchSize") == 25
    assert props.pop("MaximumBatchingWindowInSeconds") == 5
    assert props.pop("StartingPosition") == "TRIM_HORIZON"
    assert props.pop("MaximumRetryAttempts") == 2
    assert props.pop("MaximumRecordAgeInSeconds") == 3600
    assert props.pop("BisectBatchOnFunctionError") is True
    assert props.pop("ParallelizationFactor") == 4
    assert props.pop("TumblingWindowInSeconds") == 0
    assert props.pop("FunctionResponseTypes") == ["ReportBatchItemFailures"]
    assert props.pop("Enabled") is False
    assert props.pop("FilterCriteria") == {
        "Filters": [
            {"Pattern": '{"eventName": ["INSERT", "MODIFY"]}'},  # the text given, as it is
            {"Pattern": '{"dynamodb":{"NewImage":{"total":{"N":[{"numeric":[">",100]}]}}}}'},
        ]
    }
    assert props.pop("DestinationConfig") == {
        "Fn::If": [
            "AuditHasOnFailureDestination",
            {"OnFailure": {"Destination": {"Ref": "AuditOnFailureDestination"}}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert props == {}  # nothing else
    assert [n["option"] for n in esm["Metadata"]["streamkit"]["notDeployed"]] == [
        "timeout", "on_failure"
    ]  # fmt: skip

    function = resources["AuditFunction"]
    assert function["Type"] == "AWS::Serverless::Function"
    fprops = function["Properties"]
    assert fprops["Handler"] == "streamkit.aws.handle"
    assert fprops["Runtime"] == "python3.13"
    assert fprops["CodeUri"] == "src"
    assert fprops["Timeout"] == 3  # 2.5 s, rounded up (and reported)
    assert fprops["Environment"]["Variables"] == {
        "STREAMKIT_APP": APP,
        "STREAMKIT_MAPPING": "audit",
    }
    stream_read, destination = fprops["Policies"]
    assert stream_read["Statement"][0]["Resource"] == {"Ref": "OrdersStreamArn"}
    assert "dynamodb:GetRecords" in stream_read["Statement"][0]["Action"]
    assert destination["Fn::If"][0] == "AuditHasOnFailureDestination"


def test_parameters_and_conditions(written: tuple[dict[str, Any], str]) -> None:
    template, _ = written
    params = template["Parameters"]
    assert list(params) == [
        "OrdersStreamArn", "AuditOnFailureDestination",
        "OrderLinesStreamArn", "TotalsPerWindowOnFailureDestination",
    ]  # fmt: skip
    assert params["OrdersStreamArn"]["Default"] == ORDERS_ARN
    assert "Default" not in params["OrderLinesStreamArn"]
    assert params["AuditOnFailureDestination"]["Default"] == ""
    assert template["Conditions"]["AuditHasOnFailureDestination"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AuditOnFailureDestination"}, ""]}]
    }


def test_defaults_and_windows(written: tuple[dict[str, Any], str]) -> None:
    resources = written[0]["Resources"]
    window = resources["TotalsPerWindowEventSourceMapping"]["Properties"]
    assert window["TumblingWindowInSeconds"] == 60
    assert window["StartingPosition"] == "LATEST"
    assert window["EventSourceArn"] == {"Ref": "OrderLinesStreamArn"}
    plain = resources["PlainEventSourceMapping"]
    assert plain["Properties"] == {
        "FunctionName": {"Ref": "PlainFunction"},
        "EventSourceArn": {"Ref": "OrdersStreamArn"},  # one parameter per table
        "Enabled": True,
        "StartingPosition": "LATEST",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "MaximumRetryAttempts": -1,
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": False,
        "ParallelizationFactor": 1,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
    }
    assert plain["Metadata"]["streamkit"]["notDeployed"] == []
    assert resources["PlainFunction"]["Properties"]["Timeout"] == 3
    assert len(resources["PlainFunction"]["Properties"]["Policies"]) == 1


def test_options_without_a_lambda_equivalent_are_reported(
    written: tuple[dict[str, Any], str],
) -> None:
    template, err = written
    lines = err.splitlines()
    assert lines[0] == (
        "streamkit: template: mapping audit: timeout: 2.5 s is rounded up to 3 s: Lambda's "
        "Timeout is whole seconds"
    )
    assert lines[1].startswith(
        "streamkit: template: mapping audit: on_failure: the Python callable keep_failure has "
        "no Lambda equivalent"
    )
    assert lines[2].startswith(
        "streamkit: template: mapping Totals.per_window: on_failure: the JSON Lines file "
        "failed.jsonl has no Lambda equivalent"
    )
    assert len(lines) == 3
    noted = template["Metadata"]["streamkit"]["notDeployed"]
    assert [(n["mapping"], n["option"]) for n in noted] == [
        ("audit", "timeout"), ("audit", "on_failure"), ("Totals.per_window", "on_failure")
    ]  # fmt: skip


def test_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "template", APP)
    assert code == 0
    assert json.loads(out)["Resources"]["AuditFunction"]["Properties"]["Runtime"] == "python3.12"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runtime", "python3.10"], "python3.11 or newer"),
        (["--runtime", "nodejs20.x"], "python3.11 or newer"),
        (["--stream-arn", "orders"], "TABLE=ARN"),
        (["--stream-arn", "carts=arn:x"], "carts, which no mapping reads"),
    ],
)
def test_refusals(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "template", APP, *argv)
    assert code in (1, 2)
    assert message in err
    assert out == ""


def test_an_unknown_app_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "template", "tests.aws.no_such_module:app")
    assert code == 2
    assert "cannot import" in err


def test_logical_ids_are_alphanumeric_and_unique() -> None:
    app = streamkit.App()
    for name in ("a-b", "a_b", "1st", "..."):
        app.on_stream("t-1", name=name)(lambda event, context: None)
    resources = build_template(app, "m:app").body["Resources"]
    assert list(resources) == [
        "ABFunction", "ABEventSourceMapping",
        "AB2Function", "AB2EventSourceMapping",
        "Mapping1stFunction", "Mapping1stEventSourceMapping",
        "MappingFunction", "MappingEventSourceMapping",
    ]  # fmt: skip


def test_an_app_without_mappings_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="no mappings"):
        build_template(streamkit.App(), "m:app")


def test_cfn_lint_finds_nothing(written: tuple[dict[str, Any], str]) -> None:
    """cfn-lint (in the test extra) checks the template against CloudFormation's and SAM's
    schemas, including the SAM transform; skipped where it is not installed."""
    api = pytest.importorskip("cfnlint.api")
    template, _ = written
    found = api.lint(json.dumps(template), config=api.ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in found] == []
    # and it does look: a value out of range is found
    template["Resources"]["AuditEventSourceMapping"]["Properties"]["BatchSize"] = 20_000
    found = api.lint(json.dumps(template), config=api.ManualArgs(regions=["us-east-1"]))
    assert any("20000 is greater than the maximum" in str(m) for m in found)
