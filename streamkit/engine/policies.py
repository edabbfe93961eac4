"""Resource-based policies: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy.

A table and its current stream each have one policy slot, kept in the table's spec
(``TableSpec.policies``: slot ``""`` for the table, the stream's label for the stream), so
policies persist and go with the table. Policies are stored and answered, never enforced:
streamkit has no IAM.

Revision ids are, as on AWS, the time of the change in epoch milliseconds (kept increasing);
putting a policy equal to the stored one (the same JSON, whatever its spacing) changes
nothing and answers the stored revision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from streamkit.engine.params import Params
from streamkit.engine.resources import ResourcesCore, parse_arn
from streamkit.errors import (
    PolicyNotFoundException,
    ResourceNotFoundException,
    ValidationException,
)
from streamkit.model.schema import TableSpec

__all__ = ["MAX_POLICY_BYTES", "NO_POLICY", "PoliciesMixin", "parse_policy"]

#: The largest policy document, in UTF-8 bytes, whitespace included.
MAX_POLICY_BYTES = 20 * 1024
#: ExpectedRevisionId of a PutResourcePolicy that must not replace an existing policy.
NO_POLICY = "NO_POLICY"
_INVALID = "One or more parameter values were invalid: "


class PoliciesMixin(ResourcesCore):
    """The three resource-policy operations, on table and stream ARNs."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "PutResourcePolicy": "put_resource_policy",
        "GetResourcePolicy": "get_resource_policy",
        "DeleteResourcePolicy": "delete_resource_policy",
    }

    _last_revision: int = 0  # the engine's latest revision id, so none is handed out twice

    async def put_resource_policy(self, **params: Any) -> dict[str, Any]:
        """Attach or replace a resource's policy (PutResourcePolicy); answers its RevisionId."""
        p = Params(
            "PutResourcePolicy",
            params,
            {"ResourceArn", "Policy", "ExpectedRevisionId", "ConfirmRemoveSelfResourceAccess"},
        )
        arn = _required(p, "ResourceArn")
        policy = _required(p, "Policy")
        expected = _revision(p)
        p.boolean("ConfirmRemoveSelfResourceAccess")
        spec, slot = self._policy_target(arn)
        document = parse_policy(policy)
        now = self.clock.now()

        def edit(current: TableSpec) -> TableSpec:
            held = _slot(current, slot)
            if held is not None and expected == NO_POLICY:
                raise PolicyNotFoundException(
                    "Resource-based policy not found for the provided ResourceArn: Requested "
                    f"policy update expecting none to be present for table {current.name}, but a "
                    f"policy exists with revision id {held[1]}."
                )
            if expected is not None and expected != NO_POLICY:
                _check_revision(held, expected, current.name, arn)
            if held is not None and json.loads(held[0]) == document:
                return current
            revision = self._next_revision(current, now)
            kept = tuple(e for e in current.policies if e[0] != slot)
            return current.with_changes(policies=(*kept, (slot, policy, revision)))

        new = await self._edit_spec(spec, edit, lambda: _table_not_found(spec.name))
        held = _slot(new, slot)
        assert held is not None
        return {"RevisionId": held[1]}

    async def get_resource_policy(self, **params: Any) -> dict[str, Any]:
        """Return a resource's policy and its RevisionId (GetResourcePolicy)."""
        p = Params("GetResourcePolicy", params, {"ResourceArn"})
        arn = _required(p, "ResourceArn")
        spec, slot = self._policy_target(arn)
        held = _slot(spec, slot)
        if held is None:
            raise _no_policy(arn)
        return {"Policy": held[0], "RevisionId": held[1]}

    async def delete_resource_policy(self, **params: Any) -> dict[str, Any]:
        """Remove a resource's policy (DeleteResourcePolicy).

        Without a policy (and without ExpectedRevisionId) the answer is an empty body;
        otherwise the deleted policy's RevisionId.
        """
        p = Params("DeleteResourcePolicy", params, {"ResourceArn", "ExpectedRevisionId"})
        arn = _required(p, "ResourceArn")
        expected = _revision(p)
        spec, slot = self._policy_target(arn)
        deleted: list[str] = []

        def edit(current: TableSpec) -> TableSpec:
            held = _slot(current, slot)
            if expected is not None:
                _check_revision(held, expected, current.name, arn)
            if held is None:
                return current
            deleted.append(held[1])
            return current.with_changes(policies=tuple(e for e in current.policies if e[0] != slot))

        await self._edit_spec(spec, edit, lambda: _table_not_found(spec.name))
        return {"RevisionId": deleted[0]} if deleted else {}

    # -- helpers -------------------------------------------------------------------------

    def _next_revision(self, spec: TableSpec, now: float) -> str:
        """The change time in epoch milliseconds, above every revision handed out before."""
        revision = max(int(now * 1000), self._last_revision + 1)
        for _, _, held in spec.policies:
            if held.isdigit():
                revision = max(revision, int(held) + 1)
        self._last_revision = revision
        return str(revision)

    def _policy_target(self, arn: str) -> tuple[TableSpec, str]:
        """Return the table and policy slot ``arn`` names, or DynamoDB's error for the ARN."""
        if not arn.startswith("arn:"):
            raise ValidationException(f"{_INVALID}ARNs must start with 'arn:': {arn}")
        parsed = parse_arn(arn)
        if parsed is None or parsed.kind not in ("table", "index", "stream"):
            raise ValidationException(
                f"{_INVALID}Provided Arn is not a DynamoDB resource arn: {arn}"
            )
        if parsed.account != self.account:
            raise ValidationException(
                "This action is only supported by accounts that match the resource owner\u2019s "
                "account."
            )
        if parsed.region != self.region or parsed.partition != "aws":
            raise ValidationException(f"{_INVALID}Invalid resource Arn: {arn}")
        if parsed.kind == "index":
            raise ValidationException(
                f"{_INVALID}Invalid resource arn provided, only table or stream is accepted. "
                f"Provided resource arn: {arn}"
            )
        spec = self._tables.get(parsed.table)
        if spec is None:
            raise _table_not_found(parsed.table)
        if parsed.kind == "stream":
            if parsed.sub != spec.stream_label:
                raise ResourceNotFoundException(
                    f"Requested resource not found: Stream: {parsed.sub} not found for Table: "
                    f"{spec.name}"
                )
            return spec, parsed.sub
        return spec, ""


def _required(p: Params, name: str) -> str:
    value = p.string(name)
    if value is None:
        member = name[0].lower() + name[1:]
        raise ValidationException(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return value


def _revision(p: Params) -> str | None:
    value = p.string("ExpectedRevisionId")
    if value is not None and not 1 <= len(value) <= 255:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'expectedRevisionId' failed to "
            "satisfy constraint: Member must have length "
            + ("greater than or equal to 1" if not value else "less than or equal to 255")
        )
    return value


def parse_policy(policy: str) -> Any:
    """Return the policy document as JSON; ValidationException if DynamoDB would refuse it."""
    if len(policy.encode()) > MAX_POLICY_BYTES:
        raise ValidationException(
            f"{_INVALID}Invalid policy document: the policy is larger than {MAX_POLICY_BYTES} bytes"
        )
    try:
        document = json.loads(policy)
    except ValueError:
        document = None
    else:
        if document is None:
            raise ValidationException(
                f"{_INVALID}Invalid policy document: This text appears not to be a policy"
            )
    if not isinstance(document, dict):
        raise ValidationException(
            f"{_INVALID}Invalid policy document: This policy contains invalid Json"
        )
    return document


def _slot(spec: TableSpec, slot: str) -> tuple[str, str] | None:
    """Return (policy, revision id) of one slot, or None."""
    for name, policy, revision in spec.policies:
        if name == slot:
            return policy, revision
    return None


def _check_revision(held: tuple[str, str] | None, expected: str, table: str, arn: str) -> None:
    if held is None:
        raise _no_policy(arn)
    if held[1] != expected:
        raise PolicyNotFoundException(
            "Resource-based policy not found for the provided ResourceArn: Requested update for "
            f"policy with revision id {expected}, but the policy associated to target table "
            f"{table} has revision id {held[1]}."
        )


def _no_policy(arn: str) -> PolicyNotFoundException:
    return PolicyNotFoundException(
        f"Resource-based policy not found for the provided ResourceArn: {arn}"
    )


def _table_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
