"""Table and index definitions: validation of CreateTable input and the TableDescription shape."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from streamkit.errors import ValidationException

__all__ = [
    "IndexSpec",
    "KeySpec",
    "TableSpec",
    "invalid",
    "parse_index",
    "parse_key_schema",
    "parse_throughput",
    "validate_name",
]

_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+")
_INVALID = "One or more parameter values were invalid: "
PROJECTION_TYPES = ("ALL", "KEYS_ONLY", "INCLUDE")
STREAM_VIEW_TYPES = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
#: Names in key schemas, attribute definitions and projections (other names: 64 KB).
MAX_KEY_NAME_BYTES = 255
#: The most HASH, and the most RANGE, attributes of a global index's key schema.
MAX_MULTI_KEYS = 4


def invalid(message: str) -> ValidationException:
    """Return DynamoDB's 'One or more parameter values were invalid' ValidationException."""
    return ValidationException(_INVALID + message)


def constraint(value: object, member: str, rule: str) -> ValidationException:
    """Return the ValidationException DynamoDB's request validator gives for a shape constraint."""
    return ValidationException(
        f"1 validation error detected: Value {_java_repr(value)} at '{member}' failed to satisfy "
        f"constraint: Member must {rule}"
    )


def _java_repr(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def validate_name(value: object, member: str, *, min_len: int = 3, max_len: int = 255) -> str:
    """Check a table or index name against DynamoDB's length and pattern constraints."""
    if not isinstance(value, str):
        raise ValidationException(f"Invalid type for parameter {member}, expected a string")
    if len(value) < min_len:
        raise constraint(value, member, f"have length greater than or equal to {min_len}")
    if len(value) > max_len:
        raise constraint(value, member, f"have length less than or equal to {max_len}")
    if not _NAME_RE.fullmatch(value):
        raise constraint(value, member, "satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    return value


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A key schema: its partition (HASH) and sort (RANGE) attributes, each as (name, type).

    Tables and local indexes have one HASH and at most one RANGE attribute. A global index may
    have up to :data:`MAX_MULTI_KEYS` of each (multi-attribute keys, DynamoDB since November
    2025): its partition is the combination of every HASH value, and its items are ordered by
    the RANGE values compared left to right.
    """

    hash_keys: tuple[tuple[str, str], ...]
    range_keys: tuple[tuple[str, str], ...] = ()
    # Derived once (every key check reads them): names, types and roles of the attributes.
    hash_name: str = field(init=False, repr=False, compare=False)
    hash_type: str = field(init=False, repr=False, compare=False)
    #: The (first) sort key attribute and its type, or None for a hash-only key.
    range_name: str | None = field(init=False, repr=False, compare=False)
    range_type: str | None = field(init=False, repr=False, compare=False)
    #: Whether the key has more than one HASH or more than one RANGE attribute.
    multi: bool = field(init=False, repr=False, compare=False)
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    name_set: frozenset[str] = field(init=False, repr=False, compare=False)
    #: (name, type, "HASH" or "RANGE") of every key attribute, HASH first.
    attributes: tuple[tuple[str, str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        first_range = self.range_keys[0] if self.range_keys else (None, None)
        attributes = (
            *((n, t, "HASH") for n, t in self.hash_keys),
            *((n, t, "RANGE") for n, t in self.range_keys),
        )
        derived = {
            "hash_name": self.hash_keys[0][0],
            "hash_type": self.hash_keys[0][1],
            "range_name": first_range[0],
            "range_type": first_range[1],
            "multi": len(self.hash_keys) > 1 or len(self.range_keys) > 1,
            "names": tuple(n for n, _, _ in attributes),
            "name_set": frozenset(n for n, _, _ in attributes),
            "attributes": attributes,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    @classmethod
    def of(
        cls,
        hash_name: str,
        hash_type: str,
        range_name: str | None = None,
        range_type: str | None = None,
    ) -> KeySpec:
        """Return the key of one HASH and an optional RANGE attribute."""
        if range_name is None or range_type is None:
            return cls(((hash_name, hash_type),))
        return cls(((hash_name, hash_type),), ((range_name, range_type),))

    def types(self) -> dict[str, str]:
        return {n: t for n, t, _ in self.attributes}

    def role(self, name: str) -> str:
        """Return ``"HASH"`` or ``"RANGE"`` for one of the key's attributes."""
        return next((r for n, _, r in self.attributes if n == name), "RANGE")

    def to_wire(self) -> list[dict[str, str]]:
        return [
            *({"AttributeName": n, "KeyType": "HASH"} for n, _ in self.hash_keys),
            *({"AttributeName": n, "KeyType": "RANGE"} for n, _ in self.range_keys),
        ]

    def to_json(self) -> Any:
        """Return the catalog form: ``[hash, type, range, type]``, or lists for a multi key."""
        if self.multi:
            return {
                "hash": [list(k) for k in self.hash_keys],
                "range": [list(k) for k in self.range_keys],
            }
        return [self.hash_name, self.hash_type, self.range_name, self.range_type]

    @classmethod
    def from_json(cls, data: Any) -> KeySpec:
        if isinstance(data, Mapping):
            return cls(
                tuple((n, t) for n, t in data["hash"]), tuple((n, t) for n, t in data["range"])
            )
        return cls.of(*data)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """A local or global secondary index."""

    name: str
    key: KeySpec
    projection_type: str
    non_key_attributes: tuple[str, ...] = ()
    is_global: bool = True
    read_capacity: int = 0
    write_capacity: int = 0
    status: str = "ACTIVE"
    cursor: tuple[str, str] | None = None  # backfill position (hex hk, hex rk) while CREATING

    def projection_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ProjectionType": self.projection_type}
        if self.projection_type == "INCLUDE":
            out["NonKeyAttributes"] = list(self.non_key_attributes)
        return out


@dataclass(frozen=True, slots=True)
class TableSpec:
    """Everything DynamoDB knows about a table besides its items."""

    name: str
    table_id: str
    key: KeySpec
    attribute_types: Mapping[str, str]
    created: float
    billing_mode: str = "PROVISIONED"
    read_capacity: int = 0
    write_capacity: int = 0
    local_indexes: tuple[IndexSpec, ...] = ()
    global_indexes: tuple[IndexSpec, ...] = ()
    stream_view_type: str | None = None
    stream_label: str | None = None
    deletion_protection: bool = False
    table_class: str = "STANDARD"
    tags: tuple[tuple[str, str], ...] = field(default=())
    #: resource-based policies: (``""`` for the table or the stream's label, policy, revision id)
    policies: tuple[tuple[str, str, str], ...] = field(default=())
    #: global tables (2019.11.21): every replica's (region, ReplicaStatus), this region's
    #: included; empty for a regional table. The same in every replica's catalog.
    replicas: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_global(self) -> bool:
        """Whether the table has a replica in another region (its writes are replicated)."""
        return len(self.replicas) > 1

    def replica_regions(self, *, besides: str | None = None) -> tuple[str, ...]:
        """The regions holding a replica of this table (all of them, or all but ``besides``)."""
        return tuple(r for r, _ in self.replicas if r != besides)

    def with_changes(self, **changes: Any) -> TableSpec:
        return replace(self, **changes)

    @property
    def indexes(self) -> tuple[IndexSpec, ...]:
        return (*self.local_indexes, *self.global_indexes)

    @property
    def has_indexes(self) -> bool:
        return bool(self.local_indexes or self.global_indexes)

    def index(self, name: str) -> IndexSpec | None:
        for idx in (*self.local_indexes, *self.global_indexes):
            if idx.name == name:
                return idx
        return None

    def arn(self, region: str, account: str) -> str:
        return f"arn:aws:dynamodb:{region}:{account}:table/{self.name}"

    def stream_arn(self, region: str, account: str) -> str | None:
        if self.stream_label is None:
            return None
        return f"{self.arn(region, account)}/stream/{self.stream_label}"

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict for the catalog row (inverse of :meth:`from_json`)."""
        return {
            "name": self.name,
            "table_id": self.table_id,
            "key": self.key.to_json(),
            "attribute_types": dict(self.attribute_types),
            "created": self.created,
            "billing_mode": self.billing_mode,
            "read_capacity": self.read_capacity,
            "write_capacity": self.write_capacity,
            "local_indexes": [_index_json(i) for i in self.local_indexes],
            "global_indexes": [_index_json(i) for i in self.global_indexes],
            "stream_view_type": self.stream_view_type,
            "stream_label": self.stream_label,
            "deletion_protection": self.deletion_protection,
            "table_class": self.table_class,
            "tags": [list(t) for t in self.tags],
            "policies": [list(p) for p in self.policies],
            "replicas": [list(r) for r in self.replicas],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableSpec:
        return cls(
            name=data["name"],
            table_id=data["table_id"],
            key=KeySpec.from_json(data["key"]),
            attribute_types=dict(data["attribute_types"]),
            created=data["created"],
            billing_mode=data["billing_mode"],
            read_capacity=data["read_capacity"],
            write_capacity=data["write_capacity"],
            local_indexes=tuple(_index_from_json(i) for i in data["local_indexes"]),
            global_indexes=tuple(_index_from_json(i) for i in data["global_indexes"]),
            stream_view_type=data["stream_view_type"],
            stream_label=data["stream_label"],
            deletion_protection=data["deletion_protection"],
            table_class=data["table_class"],
            tags=tuple((k, v) for k, v in data["tags"]),
            policies=tuple((s, p, r) for s, p, r in data.get("policies", ())),
            replicas=tuple((r, st) for r, st in data.get("replicas", ())),
        )

    def describe(
        self,
        *,
        region: str,
        account: str,
        status: str,
        counts: Mapping[str | None, tuple[int, int]],
    ) -> dict[str, Any]:
        """Return DynamoDB's TableDescription for this table.

        ``counts`` maps None (the table) and index names to (item count, size in bytes).
        """
        item_count, size_bytes = counts.get(None, (0, 0))
        arn = self.arn(region, account)
        definitions = [
            {"AttributeName": n, "AttributeType": t} for n, t in self.attribute_types.items()
        ]
        out: dict[str, Any] = {
            "AttributeDefinitions": definitions,
            "TableName": self.name,
            "KeySchema": self.key.to_wire(),
            "TableStatus": status,
            "CreationDateTime": self.created,
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": self.read_capacity,
                "WriteCapacityUnits": self.write_capacity,
            },
            "TableSizeBytes": size_bytes,
            "ItemCount": item_count,
            "TableArn": arn,
            "TableId": self.table_id,
            "DeletionProtectionEnabled": self.deletion_protection,
        }
        if self.billing_mode == "PAY_PER_REQUEST":
            out["BillingModeSummary"] = {
                "BillingMode": "PAY_PER_REQUEST",
                "LastUpdateToPayPerRequestDateTime": self.created,
            }
        if self.table_class != "STANDARD":
            out["TableClassSummary"] = {"TableClass": self.table_class}
        if self.local_indexes:
            out["LocalSecondaryIndexes"] = [
                {
                    "IndexName": i.name,
                    "KeySchema": i.key.to_wire(),
                    "Projection": i.projection_wire(),
                    "IndexSizeBytes": counts.get(i.name, (0, 0))[1],
                    "ItemCount": counts.get(i.name, (0, 0))[0],
                    "IndexArn": f"{arn}/index/{i.name}",
                }
                for i in self.local_indexes
            ]
        if self.global_indexes:
            out["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": i.name,
                    "KeySchema": i.key.to_wire(),
                    "Projection": i.projection_wire(),
                    "IndexStatus": i.status,
                    **({"Backfilling": True} if i.status == "CREATING" else {}),
                    "ProvisionedThroughput": {
                        "NumberOfDecreasesToday": 0,
                        "ReadCapacityUnits": i.read_capacity,
                        "WriteCapacityUnits": i.write_capacity,
                    },
                    "IndexSizeBytes": counts.get(i.name, (0, 0))[1],
                    "ItemCount": counts.get(i.name, (0, 0))[0],
                    "IndexArn": f"{arn}/index/{i.name}",
                }
                for i in self.global_indexes
            ]
        if self.stream_view_type is not None:
            out["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": self.stream_view_type,
            }
        if self.stream_label is not None:
            out["LatestStreamLabel"] = self.stream_label
            out["LatestStreamArn"] = self.stream_arn(region, account)
        if self.is_global:  # a regional table has neither member
            out["GlobalTableVersion"] = "2019.11.21"
            out["Replicas"] = [{"RegionName": r, "ReplicaStatus": s} for r, s in self.replicas]
        return out


def _index_json(idx: IndexSpec) -> dict[str, Any]:
    return {
        "name": idx.name,
        "key": idx.key.to_json(),
        "projection_type": idx.projection_type,
        "non_key_attributes": list(idx.non_key_attributes),
        "is_global": idx.is_global,
        "read_capacity": idx.read_capacity,
        "write_capacity": idx.write_capacity,
        "status": idx.status,
        "cursor": None if idx.cursor is None else list(idx.cursor),
    }


def _index_from_json(data: Mapping[str, Any]) -> IndexSpec:
    return IndexSpec(
        name=data["name"],
        key=KeySpec.from_json(data["key"]),
        projection_type=data["projection_type"],
        non_key_attributes=tuple(data["non_key_attributes"]),
        is_global=data["is_global"],
        read_capacity=data["read_capacity"],
        write_capacity=data["write_capacity"],
        status=data["status"],
        cursor=None if data.get("cursor") is None else (data["cursor"][0], data["cursor"][1]),
    )


def _list_of_dicts(value: object, member: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ValidationException(f"Invalid type for parameter {member}, expected a list")
    for element in value:
        if not isinstance(element, Mapping):
            raise ValidationException(f"Invalid type for parameter {member}, expected a structure")
    return list(value)


def check_key_name(name: object, member: str) -> str:
    """Check a key schema / definition / projection attribute name: 1 to 255 bytes (UTF-8)."""
    if not isinstance(name, str) or not name:
        raise constraint(name, member, "have length greater than or equal to 1")
    if len(name.encode()) > MAX_KEY_NAME_BYTES:
        raise constraint(name, member, f"have length less than or equal to {MAX_KEY_NAME_BYTES}")
    return name


def parse_key_schema(
    value: object, types: Mapping[str, str], member: str = "keySchema", *, multi: bool = False
) -> KeySpec:
    """Validate a KeySchema list against the AttributeDefinitions types.

    ``multi``: a global index's schema, which may hold up to :data:`MAX_MULTI_KEYS` HASH
    attributes followed by up to as many RANGE attributes. DynamoDB's wording for breaking
    those rules is not published; the messages for them here are ours.
    """
    elements = _list_of_dicts(value, member)
    most = 2 * MAX_MULTI_KEYS if multi else 2
    if not 1 <= len(elements) <= most:
        rule = (
            "have length greater than or equal to 1"
            if not elements
            else f"have length less than or equal to {most}"
        )
        raise constraint(f"{elements}", member, rule)
    hashes: list[str] = []
    ranges: list[str] = []
    for position, element in enumerate(elements):
        name = element.get("AttributeName")
        kind = element.get("KeyType")
        name = check_key_name(name, f"{member}.{position + 1}.member.attributeName")
        if kind not in ("HASH", "RANGE"):
            raise constraint(
                kind,
                f"{member}.{position + 1}.member.keyType",
                "satisfy enum value set: [HASH, RANGE]",
            )
        if multi:
            if kind == "HASH" and ranges:
                raise invalid(
                    "Invalid KeySchema: every HASH KeySchemaElement must come before every "
                    "RANGE KeySchemaElement"
                )
        else:
            expected = "HASH" if position == 0 else "RANGE"
            if kind != expected:
                ordinal = "first" if position == 0 else "second"
                raise invalid(
                    f"Invalid KeySchema: The {ordinal} KeySchemaElement is not a {expected} key "
                    "type"
                )
        (hashes if kind == "HASH" else ranges).append(name)
    names = [*hashes, *ranges]
    if not hashes:
        raise invalid("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    for role, listed in (("HASH", hashes), ("RANGE", ranges)):
        if len(listed) > MAX_MULTI_KEYS:
            raise invalid(
                f"Invalid KeySchema: a key schema can have at most {MAX_MULTI_KEYS} {role} "
                f"KeySchemaElements, found {len(listed)}"
            )
    if len(set(names)) != len(names):
        if len(names) == 2:
            raise invalid(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name"
            )
        repeated = next(n for n in names if names.count(n) > 1)
        raise invalid(f"Invalid KeySchema: the attribute {repeated} is used more than once")
    missing = [n for n in names if n not in types]
    if missing:
        raise invalid(
            "Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(types)}]"
        )
    return KeySpec(tuple((n, types[n]) for n in hashes), tuple((n, types[n]) for n in ranges))


def parse_attribute_definitions(value: object) -> dict[str, str]:
    """Validate AttributeDefinitions and return name -> type (S, N or B)."""
    out: dict[str, str] = {}
    for position, element in enumerate(_list_of_dicts(value, "attributeDefinitions"), 1):
        name = element.get("AttributeName")
        kind = element.get("AttributeType")
        name = check_key_name(name, f"attributeDefinitions.{position}.member.attributeName")
        if kind not in ("S", "N", "B"):
            raise constraint(
                kind,
                f"attributeDefinitions.{position}.member.attributeType",
                "satisfy enum value set: [B, N, S]",
            )
        if name in out:
            raise invalid(f"Duplicate AttributeName in AttributeDefinitions: {name}")
        out[name] = kind
    return out


def parse_throughput(value: object, member: str = "provisionedThroughput") -> tuple[int, int]:
    """Validate a ProvisionedThroughput structure and return (read, write) units."""
    if not isinstance(value, Mapping):
        raise ValidationException(f"Invalid type for parameter {member}, expected a structure")
    units = []
    for name in ("ReadCapacityUnits", "WriteCapacityUnits"):
        unit = value.get(name)
        field = f"{member}.{name[0].lower()}{name[1:]}"
        if isinstance(unit, bool) or not isinstance(unit, int):
            raise ValidationException(
                f"1 validation error detected: Value null at '{field}' "
                "failed to satisfy constraint: Member must not be null"
            )
        if unit < 1:
            raise constraint(
                unit,
                f"{member}.{name[0].lower()}{name[1:]}",
                "have value greater than or equal to 1",
            )
        units.append(unit)
    return units[0], units[1]


def parse_index(
    element: Mapping[str, Any],
    types: Mapping[str, str],
    *,
    is_global: bool,
    billing_mode: str,
    table_key: KeySpec,
) -> IndexSpec:
    """Validate one LocalSecondaryIndexes / GlobalSecondaryIndexes element."""
    kind = "globalSecondaryIndexes" if is_global else "localSecondaryIndexes"
    name = validate_name(element.get("IndexName"), f"{kind}.member.indexName")
    key = parse_key_schema(
        element.get("KeySchema"), types, f"{kind}.member.keySchema", multi=is_global
    )
    projection = element.get("Projection")
    if not isinstance(projection, Mapping):
        raise constraint(None, f"{kind}.member.projection", "not be null")
    ptype = projection.get(
        "ProjectionType", "ALL" if "NonKeyAttributes" not in projection else None
    )
    if ptype not in PROJECTION_TYPES:
        raise constraint(
            ptype,
            f"{kind}.member.projection.projectionType",
            "satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]",
        )
    non_key = projection.get("NonKeyAttributes")
    if ptype == "INCLUDE":
        if (
            not isinstance(non_key, list)
            or not non_key
            or not all(isinstance(a, str) for a in non_key)
        ):
            raise invalid("ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
        for position, attribute in enumerate(non_key, 1):
            check_key_name(attribute, f"{kind}.member.projection.nonKeyAttributes.{position}")
        if len(set(non_key)) != len(non_key):
            raise invalid("Duplicate projected attributes are not allowed")
    elif non_key is not None:
        raise invalid(f"ProjectionType is {ptype}, but NonKeyAttributes is specified")
    read = write = 0
    if is_global:
        throughput = element.get("ProvisionedThroughput")
        if billing_mode == "PROVISIONED":
            if throughput is None:
                raise invalid(f"ProvisionedThroughput must be specified for index: {name}")
            read, write = parse_throughput(throughput, f"{kind}.member.provisionedThroughput")
        elif throughput is not None:
            raise invalid(
                "ProvisionedThroughput should not be specified for index: "
                f"{name} when BillingMode is PAY_PER_REQUEST"
            )
    else:
        if table_key.range_name is None:
            raise invalid(
                "Table KeySchema does not have a range key, which is required when "
                "specifying a LocalSecondaryIndex"
            )
        if key.hash_name != table_key.hash_name:
            raise invalid(
                "Index KeySchema does not have the same leading hash key as table KeySchema "
                f"for index: {name}. index hash key: {key.hash_name}, "
                f"table hash key: {table_key.hash_name}"
            )
        if key.range_name is None:
            raise invalid(f"Index KeySchema does not have a range key for index: {name}")
    return IndexSpec(
        name=name,
        key=key,
        projection_type=ptype,
        non_key_attributes=tuple(non_key or ()),
        is_global=is_global,
        read_capacity=read,
        write_capacity=write,
    )
