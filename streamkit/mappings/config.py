"""One mapping's settings: Lambda's CreateEventSourceMapping parameters, in snake_case."""

from __future__ import annotations

import pathlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["FailureDestination", "Handler", "MappingConfig"]

#: A user handler: Lambda's ``handler(event, context)``, sync (run in a worker thread) or async.
Handler: TypeAlias = Callable[[dict[str, Any], Any], Any]

#: Where records that exhaust their retries go: a callable receiving Lambda's on-failure record
#: (a dict; sync or async), or a JSON Lines file.
FailureDestination: TypeAlias = Callable[[dict[str, Any]], Awaitable[None] | None] | pathlib.Path


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """A validated event-source mapping: which table's stream feeds which handler, and how.

    Field names are Lambda's parameters in snake_case, with Lambda's defaults for DynamoDB
    streams (-1 means "infinite" for the two retry limits).
    """

    name: str
    table: str
    handler: Handler
    batch_size: int = 100
    maximum_batching_window_in_seconds: int = 0
    starting_position: str = "LATEST"
    maximum_retry_attempts: int = -1
    maximum_record_age_in_seconds: int = -1
    bisect_batch_on_function_error: bool = False
    on_failure: FailureDestination | None = None
    parallelization_factor: int = 1
    function_response_types: tuple[str, ...] = ()
    filter_patterns: tuple[Mapping[str, Any], ...] = ()  # parsed FilterCriteria patterns
    tumbling_window_in_seconds: int = 0
    enabled: bool = True
    timeout: float = 3.0  # the function's timeout in seconds (Lambda's default is 3)
    deserialize: bool = False  # hand the handler native Python images instead of DynamoDB JSON
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def report_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types
