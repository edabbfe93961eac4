"""An App's handlers on AWS Lambda: the entry point Lambda calls, and the template deploying it.

Locally the mapping runtime reads the stream, filters, batches, retries and reads the handler's
answer; on Lambda the event-source mapping does all that. What is left to the function is what
the local processor does around the handler call, and only that:

- :func:`lambda_handler` returns ``handler(event, context)`` for one mapping: the event Lambda
  sends (DynamoDB JSON, binaries as base64 text, the tumbling-window fields) is the event the
  local runtime builds, passed through :func:`~streamkit.mappings.events.deserialize_event` when
  the mapping has ``deserialize=True``; an ``async`` handler runs on an event loop kept for the
  life of the process; the handler's return value goes back unchanged, so Lambda reads
  ``batchItemFailures`` and ``state`` exactly as :func:`~streamkit.mappings.invoke.
  interpret_response` does locally.
- :func:`handle` is the same for the mapping named by the function's environment
  (``STREAMKIT_APP=module:app``, ``STREAMKIT_MAPPING=name``): the ``Handler`` of every function
  :func:`build_template` declares, so no entry module has to be written.
- :func:`build_template` writes an AWS SAM template: one function and one
  ``AWS::Lambda::EventSourceMapping`` per mapping, every option mapped to its CloudFormation
  property, and what has no Lambda equivalent (a Python ``on_failure``) listed, never dropped.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import math
import os
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final, final

from streamkit.errors import ConfigurationError
from streamkit.mappings.app import App
from streamkit.mappings.config import MappingConfig
from streamkit.mappings.events import deserialize_event
from streamkit.mappings.filters import compile_pattern
from streamkit.mappings.invoke import is_async_callable

__all__ = [
    "APP_VARIABLE",
    "DEPLOYED_AS",
    "ENTRY_POINT",
    "MAPPING_VARIABLE",
    "LambdaEntry",
    "NotDeployed",
    "Template",
    "build_template",
    "handle",
    "lambda_handler",
]

#: The environment variable naming the app (``module:app``) for :func:`handle`.
APP_VARIABLE: Final = "STREAMKIT_APP"
#: The environment variable naming the mapping for :func:`handle` (optional with one mapping).
MAPPING_VARIABLE: Final = "STREAMKIT_MAPPING"
#: The ``Handler`` of the functions :func:`build_template` declares.
ENTRY_POINT: Final = "streamkit.aws.handle"


# ------------------------------------------------------------------------------ entry point


@final
class LambdaEntry:
    """A Lambda function's handler running one mapping's handler: ``entry(event, context)``.

    Build it with :func:`lambda_handler`. The event and context are Lambda's; what the mapping's
    handler returns is returned unchanged (``batchItemFailures``, a tumbling window's ``state``),
    for Lambda's event-source mapping to read.
    """

    __slots__ = ("config",)

    def __init__(self, config: MappingConfig) -> None:
        self.config = config

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        config = self.config
        if config.deserialize:
            event = deserialize_event(event)
        if is_async_callable(config.handler):
            _refuse_running_loop()
            return _run(config.handler(event, context))
        result = config.handler(event, context)
        if inspect.isawaitable(result):  # a sync wrapper around an async function
            return _run(result)
        return result

    def __repr__(self) -> str:
        return f"LambdaEntry(mapping={self.config.name!r}, table={self.config.table!r})"


def lambda_handler(app: App, mapping: str | None = None) -> LambdaEntry:
    """Return the Lambda handler ``handler(event, context)`` running ``app``'s mapping ``mapping``.

    In the module Lambda's ``Handler`` names (``handler: app_module.handler``)::

        handler = streamkit.aws.lambda_handler(app, "project")

    The handler gets the event and context it gets from the local runtime: Lambda's own event
    (with the window fields for a tumbling window), as plain Python values when the mapping has
    ``deserialize=True``. Sync handlers are called directly; ``async`` ones run to completion on
    one event loop kept across invocations (so clients opened in one invocation can be used in
    the next). Whatever the handler returns is the function's response.

    Args:
        app: The app holding the mapping.
        mapping: The mapping's name; may be left out when the app has only one.

    Raises:
        ConfigurationError: The app has no such mapping, or several and none was named.
    """
    return LambdaEntry(_mapping(app, mapping))


#: the entries :func:`handle` built, by (app, mapping): one import of the app per process
_entries: dict[tuple[str, str | None], LambdaEntry] = {}


def handle(event: dict[str, Any], context: Any) -> Any:
    """The Lambda handler for the mapping the function's environment names.

    ``STREAMKIT_APP`` is ``module:app`` (imported once, from the function's code directory);
    ``STREAMKIT_MAPPING`` the mapping's name (optional when the app has one). The functions
    ``streamkit template`` declares set both and use ``Handler: streamkit.aws.handle``.

    Raises:
        ConfigurationError: ``STREAMKIT_APP`` is not set or names no app, or the mapping is
            unknown.
    """
    spec = os.environ.get(APP_VARIABLE, "")
    mapping = os.environ.get(MAPPING_VARIABLE) or None
    entry = _entries.get((spec, mapping))
    if entry is None:
        entry = _entries[spec, mapping] = lambda_handler(_load_app(spec), mapping)
    return entry(event, context)


def _load_app(spec: str) -> App:
    if not spec:
        raise ConfigurationError(
            f"{APP_VARIABLE} is not set: it names the app as module:app (streamkit template "
            "sets it on the functions it declares)"
        )
    from streamkit.cli.apps import load_apps
    from streamkit.cli.inputs import UsageError

    try:
        app = load_apps([spec])
    except UsageError as exc:
        raise ConfigurationError(f"{APP_VARIABLE}={spec}: {exc}") from None
    assert app is not None  # one spec was given
    return app


def _mapping(app: App, name: str | None) -> MappingConfig:
    if not isinstance(app, App):
        raise ConfigurationError(f"lambda_handler() takes an App, not {type(app).__name__}")
    mappings = {m.name: m for m in app.mappings}
    if name is None:
        if len(mappings) != 1:
            raise ConfigurationError(
                f"the app has {len(mappings)} mappings ({', '.join(mappings) or 'none'}): "
                "name the one to run"
            )
        return next(iter(mappings.values()))
    config = mappings.get(name)
    if config is None:
        raise ConfigurationError(
            f"the app has no mapping named {name!r} (it has: {', '.join(mappings) or 'none'})"
        )
    return config


_runner: asyncio.Runner | None = None


def _refuse_running_loop(awaitable: Awaitable[Any] | None = None) -> None:
    """Raise if this thread runs an event loop (closing ``awaitable``, which cannot run)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    if inspect.iscoroutine(awaitable):
        awaitable.close()
    raise ConfigurationError(
        "a Lambda handler was called inside a running event loop (Lambda calls it without "
        "one); from async code (a test, say), call it in a thread: "
        "await asyncio.to_thread(handler, event, context)"
    )


def _run(awaitable: Awaitable[Any]) -> Any:
    """Run an async handler's awaitable to completion on the process's event loop."""
    global _runner  # one loop per process, as a Lambda sandbox has
    _refuse_running_loop(awaitable)
    if _runner is None:
        _runner = asyncio.Runner()
        atexit.register(_runner.close)
    return _runner.run(_awaited(awaitable))


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


# ------------------------------------------------------------------------------ template

#: the Python runtimes streamkit runs on (requires-python >= 3.11)
_RUNTIME: Final = re.compile(r"python3\.(\d+)")
_MIN_MINOR: Final = 11
_ID_PARTS: Final = re.compile(r"[A-Za-z0-9]+")
_MAX_ID: Final = 200  # CloudFormation allows 255 characters; room for the suffixes
_STREAM_READ: Final = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
]
_DESTINATION_SEND: Final = ["sqs:SendMessage", "sns:Publish", "s3:PutObject", "s3:ListBucket"]

#: the options that are one AWS::Lambda::EventSourceMapping property each, as they are
_PROPERTIES: Final = {
    "enabled": "Enabled",
    "starting_position": "StartingPosition",
    "batch_size": "BatchSize",
    "maximum_batching_window_in_seconds": "MaximumBatchingWindowInSeconds",
    "maximum_retry_attempts": "MaximumRetryAttempts",
    "maximum_record_age_in_seconds": "MaximumRecordAgeInSeconds",
    "bisect_batch_on_function_error": "BisectBatchOnFunctionError",
    "parallelization_factor": "ParallelizationFactor",
    "tumbling_window_in_seconds": "TumblingWindowInSeconds",
    "function_response_types": "FunctionResponseTypes",
}
#: where the template puts each mapping option (tests/aws keeps it covering every option)
DEPLOYED_AS: Final[Mapping[str, str]] = {
    **{option: f"EventSourceMapping.{name}" for option, name in _PROPERTIES.items()},
    "filter_criteria": "EventSourceMapping.FilterCriteria",
    "on_failure": "EventSourceMapping.DestinationConfig (a parameter; reported)",
    "timeout": "Function.Timeout (whole seconds)",
    "deserialize": "done by the function (streamkit.aws.handle)",
}


@dataclass(frozen=True, slots=True)
class NotDeployed:
    """An option of a mapping that the template cannot carry to Lambda as it is."""

    mapping: str
    option: str
    reason: str

    def __str__(self) -> str:
        return f"mapping {self.mapping}: {self.option}: {self.reason}"


@dataclass(frozen=True, slots=True)
class _Destination:
    """A mapping's on-failure destination: its parameter, and the condition it is not empty."""

    condition: str
    parameter: str


@dataclass(frozen=True, slots=True)
class Template:
    """What :func:`build_template` returns: the template and the options it could not carry."""

    body: dict[str, Any]
    not_deployed: tuple[NotDeployed, ...]


def build_template(
    app: App,
    app_spec: str,
    *,
    runtime: str = "python3.12",
    code_uri: str = ".",
    stream_arns: Mapping[str, str] | None = None,
) -> Template:
    """Return an AWS SAM template deploying each of ``app``'s mappings to Lambda.

    Per mapping: an ``AWS::Serverless::Function`` (``Handler: streamkit.aws.handle``, the
    mapping named in its environment, ``Timeout`` the mapping's ``timeout``) and an
    ``AWS::Lambda::EventSourceMapping`` carrying every option: ``BatchSize``,
    ``MaximumBatchingWindowInSeconds``, ``StartingPosition``, ``MaximumRetryAttempts``,
    ``MaximumRecordAgeInSeconds``, ``BisectBatchOnFunctionError``, ``ParallelizationFactor``,
    ``TumblingWindowInSeconds``, ``FunctionResponseTypes``, ``FilterCriteria``, ``Enabled``.
    Each table's stream ARN is a parameter (``<Table>StreamArn``). A mapping with
    ``on_failure`` gets a parameter ``<Mapping>OnFailureDestination`` (an SQS queue, SNS topic
    or S3 bucket ARN) for its ``DestinationConfig``: a Python callable or a file cannot go to
    Lambda, so that is reported in ``not_deployed`` and in the event-source mapping's
    ``Metadata``, as is a timeout rounded up to whole seconds.

    Args:
        app: The app.
        app_spec: ``module:app`` as the function imports it (``STREAMKIT_APP``).
        runtime: The Lambda runtime, ``python3.11`` or newer.
        code_uri: The folder holding the app's code and a ``requirements.txt`` naming
            streamkit, relative to the template (SAM's ``CodeUri``).
        stream_arns: Default values of the stream ARN parameters, by table name.

    Raises:
        ConfigurationError: No mappings, a runtime streamkit cannot run on, or a stream ARN
            given for a table no mapping reads.
    """
    match = _RUNTIME.fullmatch(runtime)
    if match is None or int(match[1]) < _MIN_MINOR:
        raise ConfigurationError(
            f"runtime must be a Lambda Python runtime python3.{_MIN_MINOR} or newer "
            f"(streamkit needs Python 3.{_MIN_MINOR}), not {runtime!r}"
        )
    if not app.mappings:
        raise ConfigurationError(f"{app_spec} has no mappings: nothing to deploy")
    given_arns = dict(stream_arns or {})
    unknown = sorted(set(given_arns) - {m.table for m in app.mappings})
    if unknown:
        raise ConfigurationError(f"a stream ARN was given for {unknown[0]}, which no mapping reads")
    ids = _Ids()
    parameters: dict[str, Any] = {}
    conditions: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    stream_parameters: dict[str, str] = {}
    not_deployed: list[NotDeployed] = []
    for config in app.mappings:
        table_param = stream_parameters.get(config.table)
        if table_param is None:
            table_param = stream_parameters[config.table] = ids.new(config.table, "StreamArn")
            parameters[table_param] = _stream_parameter(config.table, given_arns.get(config.table))
        base = ids.base(config.name)
        function_id = ids.new(base, "Function")
        mapping_id = ids.new(base, "EventSourceMapping")
        notes = _not_deployed(config)
        destination: _Destination | None = None
        if config.on_failure is not None:
            destination = _Destination(
                condition=ids.new(base, "HasOnFailureDestination"),
                parameter=ids.new(base, "OnFailureDestination"),
            )
            parameters[destination.parameter] = _destination_parameter(config)
            conditions[destination.condition] = {
                "Fn::Not": [{"Fn::Equals": [{"Ref": destination.parameter}, ""]}]
            }
        resources[function_id] = _function(
            config, app_spec, runtime, code_uri, table_param, destination
        )
        resources[mapping_id] = _event_source_mapping(
            config, function_id, table_param, destination, notes
        )
        not_deployed.extend(notes)
    body: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": (
            f"streamkit app {app_spec}: {len(app.mappings)} stream mapping(s) as Lambda "
            "functions (written by streamkit template)"
        )[:1024],
        "Metadata": {
            "streamkit": {
                "app": app_spec,
                "mappings": [m.name for m in app.mappings],
                "notDeployed": [_note_json(n) for n in not_deployed],
            }
        },
        "Parameters": parameters,
    }
    if conditions:
        body["Conditions"] = conditions
    body["Resources"] = resources
    return Template(body=body, not_deployed=tuple(not_deployed))


def _function(
    config: MappingConfig,
    app_spec: str,
    runtime: str,
    code_uri: str,
    stream_parameter: str,
    destination: _Destination | None,
) -> dict[str, Any]:
    policies: list[Any] = [
        {
            "Statement": [
                {"Effect": "Allow", "Action": _STREAM_READ, "Resource": {"Ref": stream_parameter}},
                {"Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"},
            ]
        }
    ]
    if destination is not None:
        statement = {
            "Effect": "Allow",
            "Action": _DESTINATION_SEND,
            "Resource": [
                {"Ref": destination.parameter},
                {"Fn::Sub": f"${{{destination.parameter}}}/*"},
            ],
        }
        policies.append(
            {
                "Fn::If": [
                    destination.condition,
                    {"Statement": [statement]},
                    {"Ref": "AWS::NoValue"},
                ]
            }
        )
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Description": f"streamkit mapping {config.name} on table {config.table}"[:256],
            "CodeUri": code_uri,
            "Handler": ENTRY_POINT,
            "Runtime": runtime,
            "Timeout": math.ceil(config.timeout),
            "Environment": {
                "Variables": {APP_VARIABLE: app_spec, MAPPING_VARIABLE: config.name},
            },
            "Policies": policies,
        },
    }


def _event_source_mapping(
    config: MappingConfig,
    function_id: str,
    stream_parameter: str,
    destination: _Destination | None,
    notes: list[NotDeployed],
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "FunctionName": {"Ref": function_id},
        "EventSourceArn": {"Ref": stream_parameter},
    }
    for option, name in _PROPERTIES.items():
        value = getattr(config, option)
        properties[name] = list(value) if isinstance(value, tuple) else value
    if config.filter_patterns:
        properties["FilterCriteria"] = {
            "Filters": [{"Pattern": compile_pattern(p).text} for p in config.filter_patterns]
        }
    if destination is not None:
        properties["DestinationConfig"] = {
            "Fn::If": [
                destination.condition,
                {"OnFailure": {"Destination": {"Ref": destination.parameter}}},
                {"Ref": "AWS::NoValue"},
            ]
        }
    metadata: dict[str, Any] = {"mapping": config.name, "table": config.table}
    if config.deserialize:
        metadata["deserialize"] = "done by the function (streamkit.aws.handle)"
    metadata["notDeployed"] = [_note_json(n) for n in notes]
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Metadata": {"streamkit": metadata},
        "Properties": properties,
    }


def _not_deployed(config: MappingConfig) -> list[NotDeployed]:
    """The options of ``config`` that do not deploy to Lambda as they are."""
    notes: list[NotDeployed] = []
    timeout = math.ceil(config.timeout)
    if timeout != config.timeout:
        notes.append(
            NotDeployed(
                config.name,
                "timeout",
                f"{config.timeout:g} s is rounded up to {timeout} s: Lambda's Timeout is whole "
                "seconds",
            )
        )
    target = config.on_failure
    if target is not None:
        what = (
            f"the JSON Lines file {target}"
            if isinstance(target, os.PathLike)
            else f"the Python callable {getattr(target, '__qualname__', repr(target))}"
        )
        notes.append(
            NotDeployed(
                config.name,
                "on_failure",
                f"{what} has no Lambda equivalent: failed batches go to the OnFailure "
                "destination given as the template's parameter (an SQS queue, SNS topic or S3 "
                "bucket ARN), and are only logged when it is left empty",
            )
        )
    if config.extra:
        notes.append(
            NotDeployed(
                config.name, "extra", f"{sorted(config.extra)} are not deployed (streamkit only)"
            )
        )
    return notes


def _note_json(note: NotDeployed) -> dict[str, str]:
    return {"mapping": note.mapping, "option": note.option, "reason": note.reason}


def _stream_parameter(table: str, default: str | None) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "Type": "String",
        "Description": f"Table {table}: its stream's ARN (DescribeTable's LatestStreamArn)",
        "AllowedPattern": (
            r"arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/"
            + re.escape(table)
            + "/stream/.+"
        ),
        "ConstraintDescription": f"a DynamoDB Streams ARN of table {table}",
    }
    if default is not None:
        parameter["Default"] = default
    return parameter


def _destination_parameter(config: MappingConfig) -> dict[str, Any]:
    return {
        "Type": "String",
        "Default": "",
        "Description": (
            f"Where mapping {config.name} sends the records it gives up on: an SQS queue, SNS "
            "topic or S3 bucket ARN (empty: none). Its on_failure does not deploy to Lambda."
        ),
    }


class _Ids:
    """CloudFormation logical ids (alphanumeric), unique within the template."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._bases: set[str] = set()

    def base(self, name: str) -> str:
        """A base unique among the mappings' (names differing only in punctuation get 2, 3...)."""
        stem = _camel(name)
        base, n = stem, 1
        while base in self._bases:
            n += 1
            base = f"{stem}{n}"
        self._bases.add(base)
        return base

    def new(self, name: str, suffix: str) -> str:
        stem = _camel(name)
        found, n = stem + suffix, 1
        while found in self._used:
            n += 1
            found = f"{stem}{n}{suffix}"
        self._used.add(found)
        return found


def _camel(name: str) -> str:
    parts = _ID_PARTS.findall(name)
    text = "".join(p[:1].upper() + p[1:] for p in parts)[:_MAX_ID]
    if not text or text[0].isdigit():
        text = "Mapping" + text
    return text
