"""Tags: TagResource, UntagResource, ListTagsOfResource, and the rules tags follow.

Tags live in the table's spec in the catalog (``TableSpec.tags``, in the order they were first
set), so they persist, come from CreateTable's ``Tags`` too, and go with the table when it is
deleted. DynamoDB tags tables only: an index, stream or backup ARN is refused.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from streamkit.engine.params import Params
from streamkit.engine.resources import ResourcesCore, parse_arn
from streamkit.errors import (
    AccessDeniedException,
    ResourceNotFoundException,
    SerializationException,
    ValidationException,
)
from streamkit.model.schema import TableSpec, validate_name

__all__ = ["MAX_TAGS", "TagsMixin", "check_tag_key", "check_tags"]

#: Tags a resource may carry (AWS-assigned ``aws:`` tags, which users cannot set, aside).
MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
#: Besides Unicode letters, numbers and separators (``\\p{L}\\p{Z}\\p{N}``): AWS's tag pattern.
_PUNCTUATION = frozenset("_.:/=+-@")
_TOO_MANY = "Number of Tags exceed the current limit for the provided ResourceArn"


def _allowed(text: str) -> bool:
    for ch in text:
        if ch not in _PUNCTUATION and unicodedata.category(ch)[0] not in "LZN":
            return False
    return True


def _checked(text: object, member: str, shortest: int, longest: int) -> str:
    """A tag's Key or Value (``member``) as DynamoDB checks it."""
    if text is None:
        raise ValidationException(f"The Tag {member} provided is invalid, {member}: null")
    if not isinstance(text, str):
        raise SerializationException(f"Unexpected value type in payload ({member})")
    if not shortest <= len(text) <= longest or not _allowed(text):
        raise ValidationException(f"The Tag {member} provided is invalid, {member}: {text}")
    return text


def check_tag_key(key: object) -> str:
    """Return ``key`` if DynamoDB accepts it as a user's tag key; ValidationException if not."""
    checked = _checked(key, "Key", 1, MAX_KEY_LENGTH)
    if checked[:4].lower() == "aws:":
        raise ValidationException(f"Tag Key cannot be prefixed with aws:, Key: {checked}")
    return checked


def check_tags(tags: object, *, allow_empty: bool = False) -> list[tuple[str, str]]:
    """Validate a TagList (TagResource's, or CreateTable's with ``allow_empty``).

    Returns the (key, value) pairs in order. A list that is not one, a tag that is not a
    ``{Key, Value}`` object: SerializationException; any rule broken (lengths, characters,
    the reserved ``aws:`` prefix, a key twice, more than 50): ValidationException, and
    nothing is applied.
    """
    if not isinstance(tags, Sequence) or isinstance(tags, str | bytes):
        raise SerializationException("Unexpected value type in payload (Tags)")
    if not tags and not allow_empty:
        raise ValidationException("Atleast one Tag needs to be provided as Input.")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tag in tags:
        if not isinstance(tag, Mapping):
            raise SerializationException("Unexpected value type in payload (Tag)")
        key = check_tag_key(tag.get("Key"))
        value = _checked(tag.get("Value"), "Value", 0, MAX_VALUE_LENGTH)
        if key in seen:
            raise ValidationException(
                f"Duplicate Tag Keys provided as input: Duplicate Tag Key found {key}"
            )
        seen.add(key)
        pairs.append((key, value))
    if len(pairs) > MAX_TAGS:
        raise ValidationException(_TOO_MANY)
    return pairs


def _merged(
    old: tuple[tuple[str, str], ...], new: list[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """``old`` with ``new`` applied: a key already there keeps its place, a new one goes last."""
    values = dict(old)
    values.update(new)
    return tuple(values.items())


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ValidationException(f"Invalid NextToken: {token}") from None


class TagsMixin(ResourcesCore):
    """TagResource, UntagResource, ListTagsOfResource on table ARNs."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "TagResource": "tag_resource",
        "UntagResource": "untag_resource",
        "ListTagsOfResource": "list_tags_of_resource",
    }

    #: Tags per ListTagsOfResource page. AWS answers all of a table's (at most 50) in one.
    tags_page_size: int = MAX_TAGS

    async def tag_resource(self, **params: Any) -> dict[str, Any]:
        """Add tags to a table, or change their values (TagResource). Answers ``{}``."""
        p = Params("TagResource", params, {"ResourceArn", "Tags"})
        arn = self._arn_member(p)
        tags = _list_member(p, "Tags")
        name = self._tagged_table(arn, "TagResource")
        pairs = check_tags(tags)
        spec = self._tag_spec(name, arn)

        def edit(current: TableSpec) -> TableSpec:
            tags = _merged(current.tags, pairs)
            if tags == current.tags:
                return current
            if len(tags) > MAX_TAGS:
                raise ValidationException(_TOO_MANY)
            return current.with_changes(tags=tags)

        await self._edit_spec(spec, edit, lambda: _not_found(arn))
        return {}

    async def untag_resource(self, **params: Any) -> dict[str, Any]:
        """Remove tags by key from a table (UntagResource); absent keys are ignored."""
        p = Params("UntagResource", params, {"ResourceArn", "TagKeys"})
        arn = self._arn_member(p)
        keys = _list_member(p, "TagKeys")
        name = self._tagged_table(arn, "UntagResource")
        if not keys:
            raise ValidationException("Atleast one Tag Key needs to be provided as Input.")
        removed = {check_tag_key(k) for k in keys}
        if len(keys) > MAX_TAGS:
            raise ValidationException(_TOO_MANY)
        spec = self._tag_spec(name, arn)

        def edit(current: TableSpec) -> TableSpec:
            tags = tuple((k, v) for k, v in current.tags if k not in removed)
            return current if tags == current.tags else current.with_changes(tags=tags)

        await self._edit_spec(spec, edit, lambda: _not_found(arn))
        return {}

    async def list_tags_of_resource(self, **params: Any) -> dict[str, Any]:
        """List a table's tags (ListTagsOfResource), ``NextToken`` paging past a page."""
        p = Params("ListTagsOfResource", params, {"ResourceArn", "NextToken"})
        arn = self._arn_member(p)
        token = p.string("NextToken")
        spec = self._tag_spec(self._tagged_table(arn, "ListTagsOfResource"), arn)
        tags = list(spec.tags)
        if token is not None:
            after = _decode_token(token)
            keys = [k for k, _ in tags]
            start = keys.index(after) + 1 if after in keys else len(tags)
            tags = tags[start:]
        size = max(1, self.tags_page_size)
        out: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in tags[:size]]}
        if len(tags) > size:
            out["NextToken"] = _encode_token(tags[size - 1][0])
        return out

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _arn_member(p: Params) -> str:
        arn = p.string("ResourceArn")
        if arn is None:
            raise ValidationException("Invalid TableArn")
        return arn

    def _tagged_table(self, arn: str, operation: str) -> str:
        """Return the name of the table ``arn`` names, with DynamoDB's error for every other
        kind of ARN (whether the table exists is checked later, after the other members)."""
        if not arn.startswith("arn:"):
            raise ValidationException(
                f"One or more parameter values were invalid: ARNs must start with 'arn:': {arn}"
            )
        parsed = parse_arn(arn)
        if parsed is None:
            raise ValidationException(
                f"Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            )
        if parsed.kind not in ("table", "index", "stream"):
            raise ValidationException(
                "One or more parameter values were invalid: Provided Arn is not a DynamoDB "
                f"resource arn: {arn}"
            )
        if parsed.account != self.account:
            raise AccessDeniedException(
                f"User: arn:aws:iam::{self.account}:root is not authorized to perform: "
                f"dynamodb:{operation} on resource: {arn} because no resource-based policy "
                f"allows the dynamodb:{operation} action"
            )
        if parsed.kind == "index":
            raise ValidationException(
                "One or more parameter values were invalid: Invalid resource arn provided, only "
                f"table or stream is accepted. Provided resource arn: {arn}"
            )
        if parsed.region != self.region or parsed.partition != "aws" or parsed.kind != "table":
            raise ValidationException(
                f"Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            )
        try:
            validate_name(parsed.table, "tableName")
        except ValidationException:
            raise ValidationException(
                f"Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            ) from None
        return parsed.table

    def _tag_spec(self, name: str, arn: str) -> TableSpec:
        spec = self._tables.get(name)
        if spec is None:
            raise _not_found(arn)
        return spec


def _list_member(p: Params, name: str) -> Sequence[Any]:
    """A list member that must be there (``Tags``, ``TagKeys``)."""
    value = p.raw(name)
    if value is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{name[0].lower()}{name[1:]}' failed "
            "to satisfy constraint: Member must not be null"
        )
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise SerializationException(f"Unexpected value type in payload ({name})")
    return value


def _not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: ResourceArn: {arn} not found")
