"""The table and item subcommands: build a request from flags, run it, print the answer."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from typing import Any

import orjson

from streamkit.cli.backends import Backend
from streamkit.cli.common import CommandError, list_table_names, run_on_backend
from streamkit.cli.inputs import (
    UsageError,
    attribute_map,
    attribute_values,
    read_json,
    shorthand,
    structure,
    structures,
)
from streamkit.errors import SerializationException
from streamkit.model.json import decode_binary, encode_binary

__all__ = ["run_data_command"]

_KEY_TYPES = frozenset(["S", "N", "B"])
# DescribeTable is not here: on a file it advances a new index's backfill (engine/gsi.py), a write
_READS = frozenset(["ListTables", "GetItem", "Query", "Scan"])


async def run_data_command(args: argparse.Namespace) -> int:
    """Run one table/item subcommand; return the exit status.

    Raises:
        UsageError: a flag's value cannot become a request (exit status 2).
    """
    operation = args.operation
    params = _build(args)

    async def body(backend: Backend) -> dict[str, Any]:
        if not backend.supports(operation):
            raise CommandError(f"{operation} is not supported by the engine yet")
        if operation in ("Query", "Scan"):
            return await _paginate(backend, operation, params, args)
        if operation == "ListTables":
            return {"TableNames": await list_table_names(backend)}
        return await backend.call(operation, params)

    return await run_on_backend(args, body, read_only=operation in _READS)


def _build(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    operation = args.operation
    if operation == "ListTables":
        return params
    params["TableName"] = args.table_name
    if operation == "CreateTable":
        return _create_table(args, params)
    if operation in ("DescribeTable", "DeleteTable"):
        return params
    fmt = args.input_format
    if operation == "PutItem":
        params["Item"] = attribute_map(args.item, "--item", fmt)
    elif operation in ("GetItem", "UpdateItem", "DeleteItem"):
        params["Key"] = attribute_map(args.key, "--key", fmt)
    if operation == "UpdateItem":
        params["UpdateExpression"] = args.update_expression
    for flag, member in (
        ("condition_expression", "ConditionExpression"),
        ("key_condition_expression", "KeyConditionExpression"),
        ("filter_expression", "FilterExpression"),
        ("projection_expression", "ProjectionExpression"),
        ("return_values", "ReturnValues"),
        ("index_name", "IndexName"),
        ("select", "Select"),
        ("segment", "Segment"),
        ("total_segments", "TotalSegments"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            params[member] = value
    if getattr(args, "consistent_read", False):
        params["ConsistentRead"] = True
    if operation == "Query" and not args.scan_index_forward:
        params["ScanIndexForward"] = False
    names = getattr(args, "expression_attribute_names", None)
    if names is not None:
        parsed = read_json(names, "--expression-attribute-names")
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise UsageError('--expression-attribute-names: expected {"#name": "attribute"}')
        params["ExpressionAttributeNames"] = parsed
    values = getattr(args, "expression_attribute_values", None)
    if values is not None:
        params["ExpressionAttributeValues"] = attribute_values(
            values, "--expression-attribute-values", fmt
        )
    return params


def _create_table(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    definitions: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    if args.attribute_definitions:
        definitions = structures(args.attribute_definitions, "--attribute-definitions")
    if args.key_schema:
        keys = structures(args.key_schema, "--key-schema")
    for flag, value, kind in (
        ("--hash-key", args.hash_key, "HASH"),
        ("--range-key", args.range_key, "RANGE"),
    ):
        if value is None:
            continue
        name, _, type_ = value.rpartition(":")
        if not name or type_ not in _KEY_TYPES:
            raise UsageError(f"{flag}: expected NAME:TYPE with TYPE one of S, N, B, got {value!r}")
        keys.append({"AttributeName": name, "KeyType": kind})
        if not any(d.get("AttributeName") == name for d in definitions):
            definitions.append({"AttributeName": name, "AttributeType": type_})
    if not keys:
        raise UsageError("tables create: give --key-schema or --hash-key")
    params["KeySchema"] = keys
    params["AttributeDefinitions"] = definitions
    params["BillingMode"] = args.billing_mode
    if args.provisioned_throughput:
        params["ProvisionedThroughput"] = shorthand(
            args.provisioned_throughput, "--provisioned-throughput"
        )
    elif args.billing_mode == "PROVISIONED":
        raise UsageError("--billing-mode PROVISIONED needs --provisioned-throughput")
    if args.stream_specification:
        params["StreamSpecification"] = structure(
            args.stream_specification, "--stream-specification"
        )
    for flag, value, member in (
        ("--global-secondary-indexes", args.global_secondary_indexes, "GlobalSecondaryIndexes"),
        ("--local-secondary-indexes", args.local_secondary_indexes, "LocalSecondaryIndexes"),
    ):
        if value:
            params[member] = structures([value], flag)
    return params


async def _paginate(
    backend: Backend, operation: str, params: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Follow LastEvaluatedKey like the aws CLI: all pages, or up to --max-items."""
    if args.page_size is not None and args.page_size < 1:
        raise UsageError("--page-size must be at least 1")
    if args.max_items is not None and args.max_items < 1:
        raise UsageError("--max-items must be at least 1")
    start = _decode_token(args.starting_token) if args.starting_token else None
    items: list[Any] = []
    count = scanned = 0
    counted_only = params.get("Select") == "COUNT"
    while True:
        request = dict(params)
        limit = args.page_size
        if args.max_items is not None and not counted_only:
            remaining = args.max_items - len(items)
            limit = remaining if limit is None else min(limit, remaining)
        if limit is not None:
            request["Limit"] = limit
        if start is not None:
            request["ExclusiveStartKey"] = start
        page = await backend.call(operation, request)
        items.extend(page.get("Items", []))
        count += page.get("Count", 0)
        scanned += page.get("ScannedCount", 0)
        start = page.get("LastEvaluatedKey")
        full = args.max_items is not None and not counted_only and len(items) >= args.max_items
        if start is None or full:
            break
    response: dict[str, Any] = {"Count": count, "ScannedCount": scanned}
    if not counted_only:
        response = {"Items": items, **response}
    if start is not None:
        response["NextToken"] = _encode_token(start)
    return response


def _encode_token(key: dict[str, Any]) -> str:
    raw = orjson.dumps({"ExclusiveStartKey": encode_binary(key)}, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        key = decode_binary(data["ExclusiveStartKey"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeEncodeError):
        raise UsageError("--starting-token: not a token printed by streamkit") from None
    except SerializationException as exc:  # bad base64 inside the key
        raise UsageError(f"--starting-token: {exc.message}") from None
    if not isinstance(key, dict):
        raise UsageError("--starting-token: not a token printed by streamkit")
    return key
