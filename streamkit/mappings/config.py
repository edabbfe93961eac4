"""One mapping's settings: Lambda's CreateEventSourceMapping parameters, in snake_case.

Every option is declared here, once, in two views that ``tests/mappings/test_app.py`` keeps in
step:

- :class:`StreamOptions` types the keyword arguments users pass (``App.on_stream``,
  ``create_mapping``, ``MappingRunner.update``), so editors complete the names and mypy checks
  them in users' code;
- the :class:`MappingConfig` field of the same name carries the option's default and its check
  (Lambda's range and message), which :func:`check_options` applies.

A new option is one key in ``StreamOptions`` and one ``_option(default, check)`` field.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypedDict, TypeVar

from streamkit.errors import ConfigurationError

__all__ = [
    "OPTION_NAMES",
    "FailureDestination",
    "Handler",
    "MappingConfig",
    "StreamOptions",
    "check_handler",
    "check_name",
    "check_options",
    "default_name",
    "validate_config",
]

#: A user handler: Lambda's ``handler(event, context)``, sync (run in a worker thread) or async.
Handler: TypeAlias = Callable[[dict[str, Any], Any], Any]

#: Where records that exhaust their retries go: a callable receiving Lambda's on-failure record
#: (a dict; sync or async), or a JSON Lines file.
FailureDestination: TypeAlias = Callable[[dict[str, Any]], Awaitable[None] | None] | pathlib.Path


class StreamOptions(TypedDict, total=False):
    """A mapping's options as keyword arguments: ``app.on_stream("orders", **options)``.

    Each is optional; defaults and allowed values are those of the :class:`MappingConfig` field
    of the same name (``filter_criteria`` becomes ``filter_patterns``), listed in
    docs/handlers.md.
    """

    batch_size: int
    maximum_batching_window_in_seconds: int
    starting_position: str  # "TRIM_HORIZON" or "LATEST"
    maximum_retry_attempts: int
    maximum_record_age_in_seconds: int
    bisect_batch_on_function_error: bool
    on_failure: FailureDestination | None
    parallelization_factor: int
    function_response_types: Iterable[str]  # () or ["ReportBatchItemFailures"]
    filter_criteria: Mapping[str, Any] | None  # {"Filters": [{"Pattern": "<JSON>"}]}
    tumbling_window_in_seconds: int
    enabled: bool
    timeout: float
    deserialize: bool


# ------------------------------------------------------------------------------ checks
# Each check takes the value given and the table's name (for messages) and returns the value
# MappingConfig keeps, or raises ConfigurationError with Lambda's message where we know it.

STARTING_POSITIONS: Final = ("TRIM_HORIZON", "LATEST")
FUNCTION_RESPONSE_TYPES: Final = ("ReportBatchItemFailures",)
MAX_TIMEOUT_SECONDS: Final = 900
_TABLE_NAME: Final = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
_VALIDATION: Final = "1 validation error detected: "

Check: TypeAlias = Callable[[Any, str], Any]
T = TypeVar("T")


def _integer(member: str, low: int, high: int) -> Check:
    """Lambda's integer parameter ``member`` (camelCase, as its messages name it), low..high."""

    def check(value: object, table: str) -> int:
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
        return value

    return check


def _boolean(option: str) -> Check:
    def check(value: object, table: str) -> bool:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{option} must be True or False, not {value!r}")
        return value

    return check


_retry_attempts: Final = _integer("maximumRetryAttempts", -1, 10_000)
_record_age_range: Final = _integer("maximumRecordAgeInSeconds", -1, 604_800)


def _record_age(value: object, table: str) -> int:
    age: int = _record_age_range(value, table)
    if 0 <= age < 60:
        raise ConfigurationError(
            f"MaximumRecordAgeInSeconds must be -1 (infinite) or between 60 and 604800, got {age}"
        )
    return age


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


def _response_types(value: object, table: str) -> tuple[str, ...]:
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


def _filters(value: Any, table: str) -> tuple[Mapping[str, Any], ...]:
    # the filter compiler loads with the first mapping that names filter criteria
    from streamkit.mappings.filters import compile_filter_criteria

    return compile_filter_criteria(value)


def _destination(value: object, table: str) -> object:
    if value is None or isinstance(value, pathlib.Path) or callable(value):
        return value
    raise ConfigurationError(
        "on_failure must be a callable (sync or async) or a pathlib.Path of a JSON Lines file, "
        f"not {type(value).__name__}; streamkit has no SQS, SNS or S3 destinations"
    )


def _timeout(value: object, table: str) -> float:
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
    return float(value)


def _option(default: T, check: Check, *, given_as: str | None = None) -> T:
    """A MappingConfig field that is a mapping option (``given_as``: the option's own name).

    It returns ``dataclasses.field(...)``: ruff's RUF009 cannot tell, hence its ``noqa``.
    """
    return field(default=default, metadata={"check": check, "given_as": given_as})


# ------------------------------------------------------------------------------ the config


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """A validated event-source mapping: which table's stream feeds which handler, and how.

    Field names are Lambda's parameters in snake_case, with Lambda's defaults for DynamoDB
    streams (-1 means "infinite" for the two retry limits).
    """

    name: str
    table: str
    handler: Handler
    batch_size: int = _option(100, _integer("batchSize", 1, 10_000))
    maximum_batching_window_in_seconds: int = _option(
        0, _integer("maximumBatchingWindowInSeconds", 0, 300)
    )
    starting_position: str = _option("LATEST", _starting_position)
    maximum_retry_attempts: int = _option(-1, _retry_attempts)
    maximum_record_age_in_seconds: int = _option(-1, _record_age)
    bisect_batch_on_function_error: bool = _option(
        False, _boolean("bisect_batch_on_function_error")
    )
    on_failure: FailureDestination | None = _option(None, _destination)  # noqa: RUF009
    parallelization_factor: int = _option(1, _integer("parallelizationFactor", 1, 10))
    function_response_types: tuple[str, ...] = _option((), _response_types)
    #: parsed FilterCriteria patterns
    filter_patterns: tuple[Mapping[str, Any], ...] = _option(
        (), _filters, given_as="filter_criteria"
    )
    tumbling_window_in_seconds: int = _option(0, _integer("tumblingWindowInSeconds", 0, 900))
    enabled: bool = _option(True, _boolean("enabled"))
    #: the function's timeout in seconds (Lambda's default is 3)
    timeout: float = _option(3.0, _timeout)
    #: hand the handler native Python images instead of DynamoDB JSON
    deserialize: bool = _option(False, _boolean("deserialize"))
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def report_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


#: option name -> the MappingConfig field it sets, in the order options are checked
_FIELDS: Final = {
    f.metadata["given_as"] or f.name: f
    for f in dataclasses.fields(MappingConfig)
    if "check" in f.metadata
}
#: the names :class:`StreamOptions` declares
OPTION_NAMES: Final = frozenset(_FIELDS)


def check_options(table: str, options: Mapping[str, object]) -> dict[str, Any]:
    """Check the options given for a mapping on ``table``; return MappingConfig's arguments.

    Only the options given are checked and returned (normalised: ``filter_criteria`` compiled
    into ``filter_patterns``, ``timeout`` a float): the others keep their defaults, or their
    current values in :meth:`MappingRunner.update`.

    Raises:
        ConfigurationError: an option is unknown or invalid, or ``table`` is not a table name.
    """
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise ConfigurationError(f"Unknown mapping option: {unknown[0]}")
    _check_table(table)
    return {
        f.name: f.metadata["check"](options[option], table)
        for option, f in _FIELDS.items()
        if option in options
    }


def validate_config(config: MappingConfig) -> MappingConfig:
    """Check a :class:`MappingConfig` built by hand against the same rules; return it.

    ``config.filter_patterns`` must already be compiled (or plain pattern dicts, which are
    compiled here to validate them).

    Raises:
        ConfigurationError: Any option is out of range.
    """
    check_name(config.name)
    check_handler(config.handler)
    given = {option: getattr(config, f.name) for option, f in _FIELDS.items()}
    given["filter_criteria"] = {"Filters": [{"Pattern": p} for p in config.filter_patterns]}
    check_options(config.table, given)
    return config


def _check_table(table: object) -> None:
    if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
        raise ConfigurationError(
            f"table must be a DynamoDB table name (3-255 characters of a-z, A-Z, 0-9, '_', '-', "
            f"'.'), not {table!r}"
        )


def check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"a mapping name must be a non-empty string, not {name!r}")


def check_handler(handler: object) -> None:
    if not callable(handler):
        raise ConfigurationError(
            f"a handler must be a function handler(event, context), not {type(handler).__name__}"
        )


def default_name(handler: object) -> str:
    """The mapping name for ``handler`` when none is given: its ``__qualname__``."""
    name = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"cannot name a mapping after {handler!r}; pass name= to on_stream()"
        )
    return name
