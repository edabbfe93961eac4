"""``App``: registers handlers on table streams with Lambda's event-source-mapping options.

Registration only records validated :class:`MappingConfig` values; running them is the
runtime's job. Option errors surface at import time as :class:`ConfigurationError`.
"""

from __future__ import annotations

import math
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar, final

from streamkit.errors import ConfigurationError
from streamkit.mappings.config import FailureDestination, Handler, MappingConfig
from streamkit.mappings.filters import compile_filter_criteria

__all__ = ["App", "create_mapping", "validate_config"]

H = TypeVar("H", bound=Handler)

STARTING_POSITIONS: Final = ("TRIM_HORIZON", "LATEST")
FUNCTION_RESPONSE_TYPES: Final = ("ReportBatchItemFailures",)
MAX_TIMEOUT_SECONDS: Final = 900
_TABLE_NAME: Final = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
_VALIDATION: Final = "1 validation error detected: "


@final
class App:
    """A set of stream handlers, registered with ``@app.on_stream(table, ...)``.

    Apps compose: ``app.include(other)`` copies another app's registrations (blueprint-style).
    Mapping names are unique within an app, including across included apps, because
    checkpoints are kept per mapping name.
    """

    def __init__(self) -> None:
        self._mappings: dict[str, MappingConfig] = {}

    @property
    def mappings(self) -> tuple[MappingConfig, ...]:
        """The registered mappings, in registration order."""
        return tuple(self._mappings.values())

    def on_stream(
        self,
        table: str,
        *,
        name: str | None = None,
        batch_size: int = 100,
        maximum_batching_window_in_seconds: int = 0,
        starting_position: str = "LATEST",
        maximum_retry_attempts: int = -1,
        maximum_record_age_in_seconds: int = -1,
        bisect_batch_on_function_error: bool = False,
        on_failure: FailureDestination | None = None,
        parallelization_factor: int = 1,
        function_response_types: Iterable[str] = (),
        filter_criteria: Mapping[str, Any] | None = None,
        tumbling_window_in_seconds: int = 0,
        enabled: bool = True,
        timeout: float = 3.0,
        deserialize: bool = False,
    ) -> Callable[[H], H]:
        """Register the decorated function as the handler of a mapping on ``table``'s stream.

        The options are Lambda's CreateEventSourceMapping parameters in snake_case, with
        Lambda's defaults and ranges for DynamoDB streams (see docs/handlers.md). They are
        checked when ``on_stream`` is called; the decorator returns the function unchanged.

        Args:
            table: The table whose stream feeds the handler (it need not exist yet).
            name: The mapping's name; defaults to the function's ``__qualname__``.
            batch_size: Records per invocation at most, 1 to 10 000.
            maximum_batching_window_in_seconds: Seconds to gather records, 0 to 300.
            starting_position: ``TRIM_HORIZON`` or ``LATEST``.
            maximum_retry_attempts: -1 (until the records expire) or 0 to 10 000.
            maximum_record_age_in_seconds: -1 (no limit) or 60 to 604 800.
            bisect_batch_on_function_error: Split a failing batch in two and retry the halves.
            on_failure: A callable (sync or async) receiving Lambda's on-failure record, or a
                ``pathlib.Path`` of a JSON Lines file to append it to.
            parallelization_factor: Concurrent batches per shard, 1 to 10.
            function_response_types: ``()`` or ``["ReportBatchItemFailures"]``.
            filter_criteria: Lambda's ``{"Filters": [{"Pattern": "<JSON>"}]}``.
            tumbling_window_in_seconds: 0 (off) to 900.
            enabled: Whether the mapping starts enabled.
            timeout: The handler's timeout in seconds (above 0, at most 900).
            deserialize: Give the handler plain Python images instead of DynamoDB JSON.

        Raises:
            ConfigurationError: An option is invalid (raised here), or, when the decorator is
                applied, the handler is not callable or the name is already registered.
        """
        options = _check_options(
            table,
            batch_size=batch_size,
            maximum_batching_window_in_seconds=maximum_batching_window_in_seconds,
            starting_position=starting_position,
            maximum_retry_attempts=maximum_retry_attempts,
            maximum_record_age_in_seconds=maximum_record_age_in_seconds,
            bisect_batch_on_function_error=bisect_batch_on_function_error,
            on_failure=on_failure,
            parallelization_factor=parallelization_factor,
            function_response_types=function_response_types,
            filter_criteria=filter_criteria,
            tumbling_window_in_seconds=tumbling_window_in_seconds,
            enabled=enabled,
            timeout=timeout,
            deserialize=deserialize,
        )
        if name is not None:
            _check_name(name)

        def decorator(handler: H) -> H:
            _check_handler(handler)
            mapping_name = name if name is not None else _default_name(handler)
            self._register(
                MappingConfig(name=mapping_name, table=table, handler=handler, **options)
            )
            return handler

        return decorator

    def include(self, other: App) -> None:
        """Add every mapping registered on ``other`` so far, keeping their order.

        Raises:
            ConfigurationError: ``other`` is not an ``App``, or one of its mapping names is
                already registered here (nothing is added then).
        """
        if not isinstance(other, App):
            raise ConfigurationError(f"include() takes an App, not {type(other).__name__}")
        clashes = [n for n in other._mappings if n in self._mappings]
        if clashes:
            raise ConfigurationError(_duplicate_message(clashes[0]))
        self._mappings.update(other._mappings)

    def _register(self, config: MappingConfig) -> None:
        if config.name in self._mappings:
            raise ConfigurationError(_duplicate_message(config.name))
        self._mappings[config.name] = config

    def __repr__(self) -> str:
        return f"App(mappings={list(self._mappings)!r})"


def create_mapping(
    table: str, handler: Handler, *, name: str | None = None, **options: Any
) -> MappingConfig:
    """Return a validated :class:`MappingConfig` without registering it anywhere.

    Takes the same options as :meth:`App.on_stream` (for built-in mappings and tests).

    Raises:
        ConfigurationError: As :meth:`App.on_stream`; also for an unknown option.
    """
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise ConfigurationError(f"Unknown mapping option: {unknown[0]}")
    checked = _check_options(table, **options)
    _check_handler(handler)
    if name is not None:
        _check_name(name)
    return MappingConfig(
        name=name if name is not None else _default_name(handler),
        table=table,
        handler=handler,
        **checked,
    )


def validate_config(config: MappingConfig) -> MappingConfig:
    """Check a :class:`MappingConfig` built by hand against the same rules; return it.

    ``config.filter_patterns`` must already be compiled (or plain pattern dicts, which are
    compiled here to validate them).

    Raises:
        ConfigurationError: Any option is out of range.
    """
    _check_name(config.name)
    _check_handler(config.handler)
    _check_options(
        config.table,
        batch_size=config.batch_size,
        maximum_batching_window_in_seconds=config.maximum_batching_window_in_seconds,
        starting_position=config.starting_position,
        maximum_retry_attempts=config.maximum_retry_attempts,
        maximum_record_age_in_seconds=config.maximum_record_age_in_seconds,
        bisect_batch_on_function_error=config.bisect_batch_on_function_error,
        on_failure=config.on_failure,
        parallelization_factor=config.parallelization_factor,
        function_response_types=config.function_response_types,
        filter_criteria={"Filters": [{"Pattern": p} for p in config.filter_patterns]},
        tumbling_window_in_seconds=config.tumbling_window_in_seconds,
        enabled=config.enabled,
        timeout=config.timeout,
        deserialize=config.deserialize,
    )
    return config


# ------------------------------------------------------------------------------ checks

_OPTION_NAMES: Final = (
    "batch_size",
    "maximum_batching_window_in_seconds",
    "starting_position",
    "maximum_retry_attempts",
    "maximum_record_age_in_seconds",
    "bisect_batch_on_function_error",
    "on_failure",
    "parallelization_factor",
    "function_response_types",
    "filter_criteria",
    "tumbling_window_in_seconds",
    "enabled",
    "timeout",
    "deserialize",
)


def _check_options(
    table: str,
    *,
    batch_size: int = 100,
    maximum_batching_window_in_seconds: int = 0,
    starting_position: str = "LATEST",
    maximum_retry_attempts: int = -1,
    maximum_record_age_in_seconds: int = -1,
    bisect_batch_on_function_error: bool = False,
    on_failure: FailureDestination | None = None,
    parallelization_factor: int = 1,
    function_response_types: Iterable[str] = (),
    filter_criteria: Mapping[str, Any] | None = None,
    tumbling_window_in_seconds: int = 0,
    enabled: bool = True,
    timeout: float = 3.0,
    deserialize: bool = False,
) -> dict[str, Any]:
    """Validate the options; return MappingConfig's keyword arguments (normalised)."""
    _check_table(table)
    _integer("batchSize", batch_size, 1, 10_000)
    _integer("maximumBatchingWindowInSeconds", maximum_batching_window_in_seconds, 0, 300)
    position = _starting_position(starting_position, table)
    _integer("maximumRetryAttempts", maximum_retry_attempts, -1, 10_000)
    _integer("maximumRecordAgeInSeconds", maximum_record_age_in_seconds, -1, 604_800)
    if 0 <= maximum_record_age_in_seconds < 60:
        raise ConfigurationError(
            "MaximumRecordAgeInSeconds must be -1 (infinite) or between 60 and 604800, "
            f"got {maximum_record_age_in_seconds}"
        )
    _boolean("bisect_batch_on_function_error", bisect_batch_on_function_error)
    _check_destination(on_failure)
    _integer("parallelizationFactor", parallelization_factor, 1, 10)
    response_types = _response_types(function_response_types)
    patterns = compile_filter_criteria(filter_criteria)
    _integer("tumblingWindowInSeconds", tumbling_window_in_seconds, 0, 900)
    _boolean("enabled", enabled)
    _check_timeout(timeout)
    _boolean("deserialize", deserialize)
    return {
        "batch_size": batch_size,
        "maximum_batching_window_in_seconds": maximum_batching_window_in_seconds,
        "starting_position": position,
        "maximum_retry_attempts": maximum_retry_attempts,
        "maximum_record_age_in_seconds": maximum_record_age_in_seconds,
        "bisect_batch_on_function_error": bisect_batch_on_function_error,
        "on_failure": on_failure,
        "parallelization_factor": parallelization_factor,
        "function_response_types": response_types,
        "filter_patterns": patterns,
        "tumbling_window_in_seconds": tumbling_window_in_seconds,
        "enabled": enabled,
        "timeout": float(timeout),
        "deserialize": deserialize,
    }


def _integer(member: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{member} must be an integer, not {type(value).__name__}")
    if value < low:
        raise ConfigurationError(
            f"{_VALIDATION}Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise ConfigurationError(
            f"{_VALIDATION}Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )


def _boolean(option: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{option} must be True or False, not {value!r}")


def _starting_position(value: object, table: str) -> str:
    if value is None:
        raise ConfigurationError(
            f"{_VALIDATION}Value null at 'startingPosition' failed to satisfy constraint: "
            "Member must not be null."
        )
    text = str(value) if isinstance(value, str) else value
    if text == "AT_TIMESTAMP":
        raise ConfigurationError(f"Unsupported starting position for arn type: {table}")
    if text not in STARTING_POSITIONS:
        raise ConfigurationError(
            f"{_VALIDATION}Value '{value}' at 'startingPosition' failed to satisfy constraint: "
            "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]"
        )
    return str(text)


def _response_types(value: object) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError(
            "function_response_types must be a list such as ['ReportBatchItemFailures'], "
            f"not {value!r}"
        )
    items = list(value)
    shown = f"[{', '.join(map(str, items))}]"
    if len(items) > len(FUNCTION_RESPONSE_TYPES):
        raise ConfigurationError(
            f"{_VALIDATION}Value '{shown}' at 'functionResponseTypes' failed to satisfy "
            "constraint: Member must have length less than or equal to 1"
        )
    if any(item not in FUNCTION_RESPONSE_TYPES for item in items):
        raise ConfigurationError(
            f"{_VALIDATION}Value '{shown}' at 'functionResponseTypes' failed to satisfy "
            "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
            "[ReportBatchItemFailures]]"
        )
    return tuple(str(item) for item in items)


def _check_destination(value: object) -> None:
    if value is None or isinstance(value, pathlib.Path) or callable(value):
        return
    raise ConfigurationError(
        "on_failure must be a callable (sync or async) or a pathlib.Path of a JSON Lines file, "
        f"not {type(value).__name__}; streamkit has no SQS, SNS or S3 destinations"
    )


def _check_timeout(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_TIMEOUT_SECONDS
    ):
        raise ConfigurationError(
            f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS}, "
            f"not {value!r}"
        )


def _check_table(table: object) -> None:
    if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
        raise ConfigurationError(
            f"table must be a DynamoDB table name (3-255 characters of a-z, A-Z, 0-9, '_', '-', "
            f"'.'), not {table!r}"
        )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"a mapping name must be a non-empty string, not {name!r}")


def _check_handler(handler: object) -> None:
    if not callable(handler):
        raise ConfigurationError(
            f"a handler must be a function handler(event, context), not {type(handler).__name__}"
        )


def _default_name(handler: object) -> str:
    name = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"cannot name a mapping after {handler!r}; pass name= to on_stream()"
        )
    return name


def _duplicate_message(name: str) -> str:
    return (
        f"A mapping named {name!r} is already registered; pass a different name= "
        "(checkpoints are kept per mapping name)"
    )
