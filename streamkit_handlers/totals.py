"""Per-customer totals of an orders table, maintained in a derived table.

For every change to an order (with ``NEW_AND_OLD_IMAGES`` on the orders stream):

- ``INSERT``: the customer's ``total`` grows by the order's amount, ``orders`` by one;
- ``MODIFY``: ``total`` moves by the difference (new amount minus old); an order that changes
  customer is subtracted from the old customer and added to the new one;
- ``REMOVE`` (including TTL deletions): the amount and one order are subtracted.

```python
from streamkit_handlers.totals import create_totals_table, make_app

app = make_app("orders", "customer_totals")    # customer_id, total -> customer_totals
await create_totals_table(engine, "customer_totals")
```

Duplicates. Mappings deliver at least once: a failed or bisected batch, a restart mid-batch or
a replay hands records over again. Each customer's item therefore remembers, per order, the
position (stream label and sequence number) of the last change it applied, in an attribute
named ``applied#<order key as JSON>``; every update is conditional on that position being older,
so a record delivered twice is applied once. What this does *not* cover:

- Records the mapping gives up on (``maximum_retry_attempts`` exhausted, records too old, or
  records trimmed from the stream before they were read) are never applied: the totals drift.
  Send failures to ``on_failure`` and rebuild when that happens (below).
- The ``applied#...`` markers are never deleted (a removed order keeps its marker, so a late
  duplicate of its REMOVE is still ignored). A customer's item grows by about 100 bytes per order
  it ever had, against DynamoDB's 400 KB item limit: fine for thousands of orders per customer,
  not for millions.
- Only the mapping writes the totals. Edit them by hand and the markers no longer describe them.
- To rebuild: delete the totals table, create it again, and replay the orders stream (while it
  still holds every order) or rescan the orders table yourself.

Amounts must be numbers (a missing amount counts as 0). A change that gives an order an amount
that is not a number (or a customer that is not a string, number or binary) makes the handler
raise: with ``bisect_batch_on_function_error`` (on by default in :func:`make_app`) the mapping
isolates it and, with ``maximum_retry_attempts`` and ``on_failure``, sends it to the failure
destination. An *old* image with such values is taken as never counted, so correcting a bad
new order afterwards (an update that makes the amount a number) counts it once. Correcting an
order that was good, then bad, counts it twice: its bad update was never applied, so the good
amount was never subtracted. Orders without a customer attribute are ignored.

``streamkit run streamkit_handlers.totals:app`` reads ``$STREAMKIT_TOTALS_SOURCE`` (default
``orders``) into ``$STREAMKIT_TOTALS_TABLE`` (default ``customer_totals``), grouping by
``$STREAMKIT_TOTALS_CUSTOMER`` (default ``customer_id``) and summing ``$STREAMKIT_TOTALS_AMOUNT``
(default ``total``). The totals table must exist (:func:`create_totals_table`); until it does,
the mapping retries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import streamkit
from streamkit_handlers._common import Handler, env, position_mark, to_json

__all__ = ["Totals", "app", "changes", "create_totals_table", "make_app", "make_totals_handler"]


@dataclass(frozen=True, slots=True)
class Totals:
    """Where and how the totals are kept (attribute names in the orders and totals tables)."""

    table: str = "customer_totals"  #: the derived table
    customer: str = "customer_id"  #: the orders' customer attribute, also the totals' hash key
    amount: str = "total"  #: the orders' amount attribute
    total: str = "total"  #: the totals' sum attribute
    count: str = "orders"  #: the totals' order count attribute


def _contribution(
    image: Mapping[str, Any] | None, spec: Totals, *, strict: bool
) -> tuple[Any, Decimal] | None:
    """Return (customer, amount) for an order image, or None when it counts for nobody.

    A bad customer or amount raises when ``strict`` (a new image) and counts for nobody
    otherwise (an old image: the change that wrote it failed, so it was never counted).
    """
    if image is None or image.get(spec.customer) is None:
        return None
    customer = image[spec.customer]
    amount = image.get(spec.amount, Decimal(0))
    if isinstance(customer, bool) or not isinstance(customer, str | Decimal | bytes):
        if not strict:
            return None
        raise TypeError(f"{spec.customer} must be a string, number or binary, not {customer!r}")
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        if not strict:
            return None
        raise TypeError(f"{spec.amount} must be a number, not {amount!r}")
    return customer, Decimal(amount)


def changes(record: Mapping[str, Any], spec: Totals) -> dict[Any, tuple[Decimal, int]]:
    """Return, per customer, the (amount, order count) a deserialised record adds (may be < 0)."""
    body = record["dynamodb"]
    if record.get("eventName") == "MODIFY" and "OldImage" not in body:
        raise ValueError("MODIFY without OldImage: the stream must be NEW_AND_OLD_IMAGES")
    old = _contribution(body.get("OldImage"), spec, strict=False)
    new = _contribution(body.get("NewImage"), spec, strict=True)
    delta: dict[Any, tuple[Decimal, int]] = {}
    if old is not None:
        delta[old[0]] = (-old[1], -1)
    if new is not None:
        amount, count = delta.get(new[0], (Decimal(0), 0))
        delta[new[0]] = (amount + new[1], count + 1)
    return {c: d for c, d in delta.items() if d != (Decimal(0), 0)}


def make_totals_handler(spec: Totals = Totals()) -> Handler:
    """Return a handler applying each order change to the totals table ``spec.table``.

    The handler expects native images (``deserialize=True``) and writes through
    ``streamkit.current_engine()``. It applies records in order and raises at the first one it
    cannot apply (the ones before it stay applied; their redelivery is a no-op).
    """

    async def customer_totals(event: dict[str, Any], context: Any) -> None:
        table = streamkit.current_engine().table(spec.table)
        for record in event["Records"]:
            marker = "applied#" + to_json(record["dynamodb"]["Keys"])
            mark = position_mark(record)
            for customer, (amount, count) in changes(record, spec).items():
                try:
                    await table.update_item(
                        Key={spec.customer: customer},
                        UpdateExpression="ADD #total :amount, #count :count SET #mark = :mark",
                        ConditionExpression="attribute_not_exists(#mark) OR #mark < :mark",
                        ExpressionAttributeNames={
                            "#total": spec.total,
                            "#count": spec.count,
                            "#mark": marker,
                        },
                        ExpressionAttributeValues={
                            ":amount": amount,
                            ":count": count,
                            ":mark": mark,
                        },
                    )
                except streamkit.errors.ConditionalCheckFailedException:
                    continue  # this change was applied before: a duplicate delivery

    return customer_totals


def make_app(
    source: str = "orders",
    totals: str | Totals = "customer_totals",
    *,
    name: str = "customer_totals",
    **options: Any,
) -> streamkit.App:
    """Return an App keeping ``totals`` (a table name or a :class:`Totals`) from ``source``.

    ``options`` go to ``App.on_stream`` and override the defaults: ``starting_position=
    "TRIM_HORIZON"``, ``bisect_batch_on_function_error=True``; ``deserialize=True`` is forced.
    """
    spec = Totals(table=totals) if isinstance(totals, str) else totals
    settings: dict[str, Any] = {
        "starting_position": "TRIM_HORIZON",
        "bisect_batch_on_function_error": True,
        **options,
        "deserialize": True,
    }
    app = streamkit.App()
    app.on_stream(source, name=name, **settings)(make_totals_handler(spec))
    return app


async def create_totals_table(
    engine: streamkit.Engine,
    table: str = "customer_totals",
    *,
    customer: str = "customer_id",
    attribute_type: str = "S",
) -> None:
    """Create the totals table (hash key ``customer`` of ``attribute_type``) unless it exists."""
    with contextlib.suppress(streamkit.errors.ResourceInUseException):  # it exists already
        await engine.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": customer, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": customer, "AttributeType": attribute_type}],
            BillingMode="PAY_PER_REQUEST",
        )


#: ``streamkit run streamkit_handlers.totals:app``: configured from the environment at import.
app = make_app(
    env("STREAMKIT_TOTALS_SOURCE", "orders"),
    Totals(
        table=env("STREAMKIT_TOTALS_TABLE", "customer_totals"),
        customer=env("STREAMKIT_TOTALS_CUSTOMER", "customer_id"),
        amount=env("STREAMKIT_TOTALS_AMOUNT", "total"),
    ),
)
