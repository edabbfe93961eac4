"""The CLI's argument parsers on garbage: a UsageError (exit status 2) or a value, never a crash."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from streamkit.cli.inputs import (
    UsageError,
    attribute_map,
    attribute_values,
    structure,
    structures,
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**140), 10**140)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["S", "N", "B", "M", "L", "SS", "x", "pk"]), children, max_size=3
        )
    ),
    max_leaves=12,
)
TEXT = st.one_of(
    st.text(max_size=40).filter(lambda t: not t.startswith("file://")), JSON.map(json.dumps)
)


def _either(fn: Any, *args: Any) -> None:
    """Call a parser: returning or raising UsageError are both fine; anything else fails."""
    with contextlib.suppress(UsageError):
        fn(*args)


@settings(max_examples=300)
@given(TEXT, st.sampled_from(["auto", "dynamodb", "json"]))
def test_items_and_values(text: str, fmt: Any) -> None:
    _either(attribute_map, text, "--item", fmt)
    _either(attribute_values, text, "--expression-attribute-values", fmt)


@settings(max_examples=300)
@given(st.lists(TEXT, min_size=1, max_size=3))
def test_structures(texts: list[str]) -> None:
    _either(structures, texts, "--key-schema")
    _either(structure, texts[0], "--provisioned-throughput")


def test_number_out_of_range_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--item: Number overflow"):
        attribute_map('{"pk": "a", "n": 1e200}', "--item", "auto")
