"""Request validation shared by every operation: unknown members, JSON types, enums."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from streamkit.errors import SerializationException, ValidationException
from streamkit.model.attributes import AttributeValue, Item, validate_sized_item, validate_value
from streamkit.model.schema import validate_name

__all__ = ["Params", "specification"]

_JSON_TYPE = {
    str: "STRING_VALUE",
    bool: "BOOLEAN_VALUE",
    int: "NUMBER_VALUE",
    float: "NUMBER_VALUE",
}


def _wrong_type(member: str, value: object, expected: str) -> SerializationException:
    found = _JSON_TYPE.get(
        type(value), "START_ARRAY" if isinstance(value, list) else "START_OBJECT"
    )
    return SerializationException(f"{found} can not be converted to {expected} ({member})")


def _null(member: str) -> ValidationException:
    return ValidationException(
        f"1 validation error detected: Value null at '{member}' failed to satisfy "
        "constraint: Member must not be null"
    )


def specification(value: object, shape: str, allowed: Collection[str]) -> Mapping[str, Any]:
    """Check a required structure member such as ``TimeToLiveSpecification``: not null, a
    structure, no member besides ``allowed``; return it."""
    if value is None:
        raise _null(_member(shape))
    if not isinstance(value, Mapping):
        raise SerializationException(f"Invalid type for parameter {shape}, expected a structure")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise ValidationException(
            f'Unknown parameter in {shape}: "{unknown[0]}", must be one of: '
            + ", ".join(sorted(allowed))
        )
    return value


def _member(name: str) -> str:
    """The member's name as DynamoDB's validator spells it: ``TableName`` -> ``tableName``."""
    return name[0].lower() + name[1:]


class Params:
    """A request's members, checked one by one as an operation reads them."""

    def __init__(self, operation: str, params: Mapping[str, Any], allowed: Collection[str]) -> None:
        unknown = [name for name in params if name not in allowed]
        if unknown:
            raise ValidationException(
                f'Unknown parameter in input: "{unknown[0]}", must be one of: '
                + ", ".join(sorted(allowed))
            )
        self.operation = operation
        self._params = params

    def has(self, name: str) -> bool:
        return self._params.get(name) is not None

    @property
    def members(self) -> Mapping[str, Any]:
        """The request's members as given."""
        return self._params

    def raw(self, name: str) -> Any:
        return self._params.get(name)

    def table_name(self, name: str = "TableName") -> str:
        value = self._params.get(name)
        if value is None:
            raise _null("tableName")
        if not isinstance(value, str):
            raise _wrong_type(name, value, "String")
        if value.startswith("arn:aws:dynamodb:") and "/" in value:
            value = value.split("/", 2)[1]
        return validate_name(value, "tableName")

    def string(self, name: str, *, default: str | None = None) -> str | None:
        value = self._params.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise _wrong_type(name, value, "String")
        return value

    def enum(self, name: str, choices: Collection[str], default: str) -> str:
        value = self.string(name, default=default)
        assert value is not None
        if value not in choices:
            raise ValidationException(
                f"1 validation error detected: Value '{value}' at '{_member(name)}' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(sorted(choices))}]"
            )
        return value

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self._params.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise _wrong_type(name, value, "Boolean")
        return value

    def integer(self, name: str) -> int | None:
        value = self._params.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(name, value, "Integer")
        return value

    def mapping(self, name: str) -> Mapping[str, Any] | None:
        value = self._params.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise _wrong_type(name, value, "Map")
        return value

    def item(self, name: str = "Item") -> Item:
        return self.sized_item(name)[0]

    def sized_item(self, name: str = "Item") -> tuple[Item, int]:
        """Return the validated item and its size (400 KB limit checked)."""
        value = self._params.get(name)
        if value is None:
            raise _null(_member(name))
        if not isinstance(value, Mapping):
            raise _wrong_type(name, value, "Map")
        return validate_sized_item(value)

    def names(self) -> Mapping[str, str] | None:
        value = self.mapping("ExpressionAttributeNames")
        if value is None:
            return None
        for key, name in value.items():
            if not isinstance(name, str):
                raise _wrong_type("ExpressionAttributeNames", name, "String")
            if not isinstance(key, str):
                raise _wrong_type("ExpressionAttributeNames", key, "String")
        return value

    def values(self) -> dict[str, AttributeValue] | None:
        value = self.mapping("ExpressionAttributeValues")
        if value is None:
            return None
        out: dict[str, AttributeValue] = {}
        for key, av in value.items():
            try:
                out[key] = validate_value(av)
            except ValidationException as exc:
                raise ValidationException(
                    f"ExpressionAttributeValues contains invalid value: {exc.message} for key {key}"
                ) from None
        return out
