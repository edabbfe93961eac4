"""``streamkit tables update TABLE``: UpdateTable from flags (billing, throughput, stream, GSIs)."""

from __future__ import annotations

import argparse
from typing import Any

from streamkit.cli.backends import Backend
from streamkit.cli.common import run_on_backend
from streamkit.cli.inputs import UsageError, shorthand, structure, structures
from streamkit.cli.restore import continuous_backups_request

__all__ = ["build_update_table", "run_tables_update"]

_KEY_TYPES = frozenset(["S", "N", "B"])


async def run_tables_update(args: argparse.Namespace) -> int:
    """Build the UpdateTable request, send it, print the TableDescription."""
    pitr = continuous_backups_request(args)  # --pitr on|off: UpdateContinuousBackups
    params = build_update_table(args, empty_ok=pitr is not None)

    async def body(backend: Backend) -> dict[str, Any]:
        out = {} if params is None else await backend.call("UpdateTable", params)
        if pitr is not None:
            out.update(await backend.call("UpdateContinuousBackups", pitr))
        return out

    return await run_on_backend(args, body)


def build_update_table(
    args: argparse.Namespace, *, empty_ok: bool = False
) -> dict[str, Any] | None:
    """Turn ``tables update`` flags into UpdateTable's members (None: no change asked for
    and ``empty_ok``, as when only ``--pitr`` is given).

    Raises:
        UsageError: a flag is malformed, or no flag asks for a change.
    """
    params: dict[str, Any] = {"TableName": args.table_name}
    if args.billing_mode is not None:
        params["BillingMode"] = args.billing_mode
    if args.provisioned_throughput is not None:
        params["ProvisionedThroughput"] = shorthand(
            args.provisioned_throughput, "--provisioned-throughput"
        )
    stream = _stream(args)
    if stream is not None:
        params["StreamSpecification"] = stream
    if args.deletion_protection is not None:
        params["DeletionProtectionEnabled"] = args.deletion_protection
    definitions = (
        structures(args.attribute_definitions, "--attribute-definitions")
        if args.attribute_definitions
        else []
    )
    updates = (
        structures([args.global_secondary_index_updates], "--global-secondary-index-updates")
        if args.global_secondary_index_updates
        else []
    )
    for spec in args.create_gsi or []:
        updates.append({"Create": _create_gsi(spec, definitions, args)})
    for name in args.delete_gsi or []:
        updates.append({"Delete": {"IndexName": name}})
    for name, throughput in args.update_gsi or []:
        updates.append(
            {
                "Update": {
                    "IndexName": name,
                    "ProvisionedThroughput": shorthand(throughput, "--update-gsi"),
                }
            }
        )
    if updates:
        params["GlobalSecondaryIndexUpdates"] = updates
    if definitions:
        params["AttributeDefinitions"] = definitions
    if len(params) == 1 and empty_ok:
        return None
    if len(params) == 1:
        raise UsageError("tables update: nothing to change (see 'streamkit tables update --help')")
    return params


def _stream(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.stream_specification is not None:
        return structure(args.stream_specification, "--stream-specification")
    if args.stream_view_type is not None:
        return {"StreamEnabled": True, "StreamViewType": args.stream_view_type}
    if args.disable_stream:
        return {"StreamEnabled": False}
    return None


def _create_gsi(
    spec: list[str], definitions: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    if len(spec) not in (2, 3):
        raise UsageError("--create-gsi: expected NAME HASH:TYPE [RANGE:TYPE]")
    name, *keys = spec
    schema: list[dict[str, Any]] = []
    for key, kind in zip(keys, ("HASH", "RANGE"), strict=False):
        attribute, _, type_ = key.rpartition(":")
        if not attribute or type_ not in _KEY_TYPES:
            raise UsageError(
                f"--create-gsi: expected NAME:TYPE with TYPE one of S, N, B, got {key!r}"
            )
        schema.append({"AttributeName": attribute, "KeyType": kind})
        if not any(d.get("AttributeName") == attribute for d in definitions):
            definitions.append({"AttributeName": attribute, "AttributeType": type_})
    create: dict[str, Any] = {
        "IndexName": name,
        "KeySchema": schema,
        "Projection": {"ProjectionType": args.gsi_projection},
    }
    if args.gsi_provisioned_throughput is not None:
        create["ProvisionedThroughput"] = shorthand(
            args.gsi_provisioned_throughput, "--gsi-provisioned-throughput"
        )
    return create
