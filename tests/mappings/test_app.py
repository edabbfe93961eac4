"""App registration: Lambda's option defaults, ranges and errors; composition."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import typing
from typing import Any

import pytest

from streamkit.errors import ConfigurationError
from streamkit.mappings import config as config_module
from streamkit.mappings.app import App, create_mapping, validate_config
from streamkit.mappings.config import MappingConfig, StreamOptions
from streamkit.mappings.filters import Pattern


async def handler(event: dict[str, Any], context: Any) -> None:
    return None


def sync_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}


class TestRegistration:
    def test_defaults_are_lambdas(self) -> None:
        app = App()
        app.on_stream("orders")(handler)
        (config,) = app.mappings
        assert config == MappingConfig(name=handler.__qualname__, table="orders", handler=handler)
        assert config.batch_size == 100
        assert config.maximum_batching_window_in_seconds == 0
        assert config.starting_position == "LATEST"
        assert config.maximum_retry_attempts == -1
        assert config.maximum_record_age_in_seconds == -1
        assert config.bisect_batch_on_function_error is False
        assert config.on_failure is None
        assert config.parallelization_factor == 1
        assert config.function_response_types == ()
        assert config.filter_patterns == ()
        assert config.tumbling_window_in_seconds == 0
        assert config.enabled is True
        assert config.timeout == 3.0
        assert config.deserialize is False

    def test_decorator_returns_the_function_unchanged(self) -> None:
        app = App()
        decorated = app.on_stream("orders")(handler)
        assert decorated is handler

    def test_issue_example(self) -> None:
        app = App()

        @app.on_stream(
            "orders",
            batch_size=100,
            starting_position="TRIM_HORIZON",
            maximum_retry_attempts=3,
            bisect_batch_on_function_error=True,
            function_response_types=["ReportBatchItemFailures"],
        )
        async def project_orders(event: dict[str, Any], context: Any) -> None:
            return None

        (config,) = app.mappings
        assert config.name.endswith("project_orders")
        assert config.starting_position == "TRIM_HORIZON"
        assert config.function_response_types == ("ReportBatchItemFailures",)
        assert config.report_batch_item_failures

    def test_all_options_are_kept(self, tmp_path: pathlib.Path) -> None:
        app = App()
        destination = tmp_path / "failures.jsonl"
        pattern = json.dumps({"eventName": ["INSERT"]})
        app.on_stream(
            "orders",
            name="projector",
            batch_size=10_000,
            maximum_batching_window_in_seconds=300,
            starting_position="TRIM_HORIZON",
            maximum_retry_attempts=10_000,
            maximum_record_age_in_seconds=604_800,
            bisect_batch_on_function_error=True,
            on_failure=destination,
            parallelization_factor=10,
            function_response_types=("ReportBatchItemFailures",),
            filter_criteria={"Filters": [{"Pattern": pattern}]},
            tumbling_window_in_seconds=900,
            enabled=False,
            timeout=900,
            deserialize=True,
        )(sync_handler)
        (config,) = app.mappings
        assert config.name == "projector"
        assert config.on_failure == destination
        assert config.maximum_record_age_in_seconds == 604_800
        assert config.timeout == 900.0
        assert isinstance(config.filter_patterns[0], Pattern)
        assert config.filter_patterns[0].text == pattern
        assert config.enabled is False
        assert config.deserialize is True

    def test_mappings_keep_registration_order(self) -> None:
        app = App()
        for name in ("c", "a", "b"):
            app.on_stream("orders", name=name)(handler)
        assert [m.name for m in app.mappings] == ["c", "a", "b"]

    def test_several_mappings_may_read_one_stream(self) -> None:
        app = App()
        app.on_stream("orders")(handler)
        app.on_stream("orders")(sync_handler)
        assert [m.table for m in app.mappings] == ["orders", "orders"]

    def test_duplicate_name_is_refused_at_import(self) -> None:
        app = App()
        app.on_stream("orders")(handler)
        with pytest.raises(ConfigurationError, match="already registered"):
            app.on_stream("users")(handler)
        app.on_stream("users", name="users_handler")(handler)
        assert len(app.mappings) == 2

    def test_handler_must_be_callable(self) -> None:
        with pytest.raises(ConfigurationError, match="handler"):
            App().on_stream("orders")("not a function")  # type: ignore[type-var]

    def test_callable_object_without_a_name_needs_one(self) -> None:
        class Handler:
            def __call__(self, event: dict[str, Any], context: Any) -> None:
                return None

        app = App()
        with pytest.raises(ConfigurationError, match="name="):
            app.on_stream("orders")(Handler())
        app.on_stream("orders", name="h")(Handler())
        assert app.mappings[0].name == "h"

    def test_on_failure_callable_is_accepted(self) -> None:
        async def destination(record: dict[str, Any]) -> None:
            return None

        app = App()
        app.on_stream("orders", on_failure=destination)(handler)
        assert app.mappings[0].on_failure is destination


class TestInclude:
    def test_include_merges_in_order(self) -> None:
        blueprint = App()
        blueprint.on_stream("users", name="welcome")(handler)
        blueprint.on_stream("users", name="audit")(handler)
        app = App()
        app.on_stream("orders", name="projector")(handler)
        app.include(blueprint)
        assert [m.name for m in app.mappings] == ["projector", "welcome", "audit"]

    def test_duplicate_names_across_apps_are_refused_atomically(self) -> None:
        blueprint = App()
        blueprint.on_stream("users", name="fresh")(handler)
        blueprint.on_stream("users", name="projector")(handler)
        app = App()
        app.on_stream("orders", name="projector")(handler)
        with pytest.raises(ConfigurationError, match="'projector' is already registered"):
            app.include(blueprint)
        assert [m.name for m in app.mappings] == ["projector"]

    def test_include_is_a_snapshot(self) -> None:
        blueprint = App()
        app = App()
        app.include(blueprint)
        blueprint.on_stream("users", name="late")(handler)
        assert app.mappings == ()

    def test_include_takes_an_app(self) -> None:
        with pytest.raises(ConfigurationError):
            App().include("app")  # type: ignore[arg-type]


def option_error(**options: Any) -> str:
    with pytest.raises(ConfigurationError) as exc:
        App().on_stream("orders", **options)
    return str(exc.value)


class TestValidation:
    @pytest.mark.parametrize(
        ("option", "member", "low", "high"),
        [
            ("batch_size", "batchSize", 1, 10_000),
            ("maximum_batching_window_in_seconds", "maximumBatchingWindowInSeconds", 0, 300),
            ("parallelization_factor", "parallelizationFactor", 1, 10),
            ("maximum_retry_attempts", "maximumRetryAttempts", -1, 10_000),
            ("maximum_record_age_in_seconds", "maximumRecordAgeInSeconds", -1, 604_800),
            ("tumbling_window_in_seconds", "tumblingWindowInSeconds", 0, 900),
        ],
    )
    def test_ranges(self, option: str, member: str, low: int, high: int) -> None:
        assert option_error(**{option: low - 1}) == (
            f"1 validation error detected: Value '{low - 1}' at '{member}' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {low}"
        )
        assert option_error(**{option: high + 1}) == (
            f"1 validation error detected: Value '{high + 1}' at '{member}' failed to satisfy "
            f"constraint: Member must have value less than or equal to {high}"
        )
        options: dict[str, Any] = {option: high}
        App().on_stream("orders", **options)(handler)

    def test_batch_size_above_ten_needs_no_window_for_streams(self) -> None:
        App().on_stream("orders", batch_size=11, maximum_batching_window_in_seconds=0)(handler)

    @pytest.mark.parametrize("age", [0, 1, 59])
    def test_record_age_between_0_and_59_is_refused(self, age: int) -> None:
        assert "between 60 and 604800" in option_error(maximum_record_age_in_seconds=age)

    def test_record_age_60_is_accepted(self) -> None:
        App().on_stream("orders", maximum_record_age_in_seconds=60)(handler)

    @pytest.mark.parametrize("value", [True, 1.5, "10", None])
    def test_integers_must_be_integers(self, value: Any) -> None:
        assert "must be an integer" in option_error(batch_size=value)

    def test_at_timestamp_is_refused_as_for_dynamodb(self) -> None:
        assert option_error(starting_position="AT_TIMESTAMP") == (
            "Unsupported starting position for arn type: orders"
        )

    def test_unknown_starting_position(self) -> None:
        assert option_error(starting_position="EARLIEST") == (
            "1 validation error detected: Value 'EARLIEST' at 'startingPosition' failed to "
            "satisfy constraint: Member must satisfy enum value set: "
            "[LATEST, AT_TIMESTAMP, TRIM_HORIZON]"
        )

    def test_null_starting_position(self) -> None:
        assert option_error(starting_position=None) == (
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
            "constraint: Member must not be null."
        )

    def test_function_response_types(self) -> None:
        assert "enum value set: [ReportBatchItemFailures]" in option_error(
            function_response_types=["ReportItemFailures"]
        )
        assert "length less than or equal to 1" in option_error(
            function_response_types=["ReportBatchItemFailures"] * 2
        )
        assert "must be a list" in option_error(function_response_types="ReportBatchItemFailures")

    def test_filter_criteria(self) -> None:
        assert (
            option_error(filter_criteria={"Filters": [{"Pattern": "single-string"}]})
            == "Invalid filter pattern definition."
        )

    @pytest.mark.parametrize("destination", ["arn:aws:sqs:us-east-1:123456789012:q", 5])
    def test_on_failure(self, destination: Any) -> None:
        assert "on_failure must be a callable" in option_error(on_failure=destination)

    @pytest.mark.parametrize("timeout", [0, -1, 901, float("inf"), float("nan"), True, "3"])
    def test_timeout(self, timeout: Any) -> None:
        assert "timeout must be" in option_error(timeout=timeout)

    @pytest.mark.parametrize("option", ["bisect_batch_on_function_error", "enabled", "deserialize"])
    def test_booleans(self, option: str) -> None:
        assert "True or False" in option_error(**{option: 1})

    @pytest.mark.parametrize("table", ["", "ab", "bad name", "x" * 256, None])
    def test_table_name(self, table: Any) -> None:
        with pytest.raises(ConfigurationError, match="table name"):
            App().on_stream(table)

    def test_empty_name(self) -> None:
        assert "non-empty" in option_error(name="")


class TestHelpers:
    def test_create_mapping(self) -> None:
        config = create_mapping("orders", handler, name="m", batch_size=5)
        assert config == MappingConfig(name="m", table="orders", handler=handler, batch_size=5)

    def test_create_mapping_rejects_unknown_options(self) -> None:
        with pytest.raises(ConfigurationError, match="Unknown mapping option: batchsize"):
            create_mapping("orders", handler, batchsize=5)  # type: ignore[call-arg]

    def test_validate_config(self) -> None:
        config = MappingConfig(name="m", table="orders", handler=handler)
        assert validate_config(config) is config
        with pytest.raises(ConfigurationError, match="batchSize"):
            validate_config(MappingConfig(name="m", table="orders", handler=handler, batch_size=0))
        patterns: tuple[dict[str, Any], ...] = ({"eventName": []},)
        with pytest.raises(ConfigurationError, match="Invalid filter pattern definition"):
            validate_config(
                MappingConfig(name="m", table="orders", handler=handler, filter_patterns=patterns)
            )


def test_options_are_declared_once() -> None:
    """StreamOptions (the typed keywords) and MappingConfig's option fields name the same set."""
    typed = set(StreamOptions.__optional_keys__)
    assert StreamOptions.__required_keys__ == frozenset()
    assert typed == config_module.OPTION_NAMES
    fields = {f.name for f in dataclasses.fields(MappingConfig)}
    not_options = {"name", "table", "handler", "extra"}
    assert fields - not_options == (typed - {"filter_criteria"}) | {"filter_patterns"}
    hints = typing.get_type_hints(App.on_stream)
    assert hints["options"] == typing.Unpack[StreamOptions]


def test_unknown_option_is_a_type_error_as_for_any_keyword() -> None:
    with pytest.raises(
        TypeError, match=r"on_stream\(\) got an unexpected keyword argument 'batchsize'"
    ):
        App().on_stream("orders", batchsize=5)  # type: ignore[call-arg]
