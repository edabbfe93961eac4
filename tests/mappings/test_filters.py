"""Lambda's event-filter language over Lambda-shaped DynamoDB stream records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.errors import ConfigurationError
from streamkit.mappings.events import make_stream_record
from streamkit.mappings.filters import (
    INVALID_PATTERN,
    Pattern,
    compile_filter_criteria,
    compile_pattern,
    matches,
)


def criteria(*patterns: Any) -> dict[str, Any]:
    return {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]}


def passes(pattern: Any, record: Any) -> bool:
    return matches(compile_filter_criteria(criteria(pattern)), record)


RECORD = make_stream_record(
    event_name="MODIFY",
    keys={"pk": "user#1"},
    old_image={"status": "NEW", "total": 101},
    new_image={
        "status": "DONE",
        "total": 101,
        "email": "Ann@Example.com",
        "tags": {"a", "b"},
        "ip": "10.0.0.7",
        "flag": True,
        "nothing": None,
        "items": [{"sku": "x1", "qty": 2}, {"sku": "y2", "qty": 1}],
        "blob": b"foobar",
    },
    approximate_creation_date_time=1_700_000_000,
)
TTL_RECORD = make_stream_record(
    event_name="REMOVE", ttl=True, keys={"pk": "s1"}, old_image={"exp": 1}
)


def new(attribute: str, rules: Any) -> dict[str, Any]:
    return {"dynamodb": {"NewImage": {attribute: rules}}}


class TestCriteria:
    def test_no_criteria_means_no_filters(self) -> None:
        assert compile_filter_criteria(None) == ()
        assert compile_filter_criteria({}) == ()
        assert compile_filter_criteria({"Filters": []}) == ()
        assert matches((), RECORD)

    def test_patterns_are_mappings_of_their_json(self) -> None:
        (pattern,) = compile_filter_criteria(criteria({"eventName": ["INSERT"]}))
        assert isinstance(pattern, Pattern)
        assert dict(pattern) == {"eventName": ["INSERT"]}
        assert pattern.text == '{"eventName": ["INSERT"]}'

    def test_dict_pattern_is_accepted_as_a_convenience(self) -> None:
        (pattern,) = compile_filter_criteria({"Filters": [{"Pattern": {"eventName": ["MODIFY"]}}]})
        assert pattern.matches(RECORD)

    def test_filters_are_ored(self) -> None:
        patterns = compile_filter_criteria(
            criteria({"eventName": ["INSERT"]}, {"eventName": ["MODIFY"]})
        )
        assert matches(patterns, RECORD)
        assert not matches(patterns[:1], RECORD)

    def test_five_filters_allowed_six_refused(self) -> None:
        assert len(compile_filter_criteria(criteria(*[{"eventName": ["INSERT"]}] * 5))) == 5
        with pytest.raises(ConfigurationError, match=INVALID_PATTERN):
            compile_filter_criteria(criteria(*[{"eventName": ["INSERT"]}] * 6))

    def test_pattern_length_limit(self) -> None:
        padding = "x" * (4096 - len('{"a": [""]}'))
        assert compile_pattern('{"a": ["' + padding + '"]}')
        with pytest.raises(ConfigurationError, match=INVALID_PATTERN):
            compile_pattern('{"a": ["' + padding + 'x"]}')

    @pytest.mark.parametrize(
        "bad",
        [
            "single-string",  # AWS-validated: not JSON
            '[{"eventName": ["INSERT"=123}]',  # AWS-validated: malformed
            "[]",
            "{}",
            '{"a": []}',  # empty arrays are refused (the CDK FilterRule.null() bug)
            '{"a": {}}',
            '{"a": "x"}',
            '{"a": 1}',
            '{"a": [["x"]]}',
            '{"a": [{"prefix": 1}]}',
            '{"a": [{"prefix": "x", "suffix": "y"}]}',
            '{"a": [{}]}',
            '{"a": [{"unknown": "x"}]}',
            '{"a": [{"exists": "yes"}]}',
            '{"a": [{"numeric": [">", "1"]}]}',
            '{"a": [{"numeric": ["<", 5, ">", 1]}]}',
            '{"a": [{"numeric": [">", 5, "<", 1]}]}',
            '{"a": [{"numeric": ["!=", 5]}]}',
            '{"a": [{"numeric": [">", 1e999]}]}',
            '{"a": [{"numeric": 5}]}',
            '{"a": [{"anything-but": []}]}',
            '{"a": [{"anything-but": ["x", 1]}]}',
            '{"a": [{"anything-but": null}]}',
            '{"a": [{"anything-but": {"prefix": ""}}]}',
            '{"a": [{"anything-but": {"numeric": [">", 1]}}]}',
            '{"a": [{"prefix": {"anything": "x"}}]}',
            '{"a": [{"cidr": "10.0.0.0"}]}',
            '{"a": [{"cidr": "nonsense/8"}]}',
            '{"a": [{"wildcard": "a**b"}]}',
            '{"$or": [{"a": ["x"]}]}',
            '{"$or": {"a": ["x"]}}',
            '{"$or": [{"a": ["x"]}, "b"]}',
            '{"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}',
            '{"a": [NaN]}',
        ],
    )
    def test_invalid_patterns(self, bad: str) -> None:
        with pytest.raises(ConfigurationError, match=INVALID_PATTERN):
            compile_filter_criteria({"Filters": [{"Pattern": bad}]})

    @pytest.mark.parametrize(
        "bad",
        [
            "not a mapping",
            {"Filters": "x"},
            {"Filters": [{"pattern": "{}"}]},
            {"Filters": [{"Pattern": 5}]},
            {"Filters": ["x"]},
        ],
    )
    def test_invalid_criteria(self, bad: Any) -> None:
        with pytest.raises(ConfigurationError, match=INVALID_PATTERN):
            compile_filter_criteria(bad)

    def test_the_note_says_why(self) -> None:
        with pytest.raises(ConfigurationError) as exc:
            compile_pattern('{"a": []}')
        assert str(exc.value) == INVALID_PATTERN
        assert "Empty arrays" in " ".join(exc.value.__notes__)


class TestDynamoDBQuirks:
    """The cases LocalStack validated against AWS (tests/aws/.../dynamodbstreams)."""

    def test_type_descriptor_is_needed(self) -> None:
        assert passes(new("status", {"S": ["DONE"]}), RECORD)
        assert not passes(new("status", ["DONE"]), RECORD)

    def test_exists_needs_the_type_descriptor(self) -> None:
        assert passes(new("status", {"S": [{"exists": True}]}), RECORD)
        assert not passes(new("status", [{"exists": True}]), RECORD)
        # ...and exists:false on the attribute itself is true even when it is present.
        assert passes(new("status", [{"exists": False}]), RECORD)
        assert not passes(new("status", {"S": [{"exists": False}]}), RECORD)

    def test_numeric_never_matches_n_values(self) -> None:
        assert not passes(new("total", {"N": [{"numeric": [">", 100]}]}), RECORD)
        assert passes(new("total", {"N": ["101"]}), RECORD)
        assert not passes(new("total", {"N": [101]}), RECORD)
        rules = {"N": [{"numeric": [">", 100]}, {"anything-but": "101"}]}
        assert not passes(new("total", rules), RECORD)

    def test_numeric_matches_approximate_creation_date_time(self) -> None:
        created = {"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0]}]}}
        assert passes(created, RECORD)

    def test_event_name_and_source(self) -> None:
        assert passes({"eventName": ["INSERT", "MODIFY"]}, RECORD)
        assert passes({"eventName": ["MODIFY"], "eventSource": ["aws:dynamodb"]}, RECORD)
        assert not passes({"eventName": ["MODIFY"], "eventSource": ["aws:s3"]}, RECORD)

    def test_ttl_deletions_only(self) -> None:
        ttl_only = {
            "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}
        }
        assert passes(ttl_only, TTL_RECORD)
        assert not passes(ttl_only, RECORD)

    def test_prefix_on_keys(self) -> None:
        assert passes({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "user#"}]}}}}, RECORD)
        assert not passes({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "order#"}]}}}}, RECORD)

    def test_missing_image_counts_as_absent(self) -> None:
        assert passes({"dynamodb": {"NewImage": {"exp": [{"exists": False}]}}}, TTL_RECORD)
        assert not passes({"dynamodb": {"NewImage": {"exp": {"N": ["1"]}}}}, TTL_RECORD)

    def test_binary_values_match_as_base64(self) -> None:
        assert passes(new("blob", {"B": ["Zm9vYmFy"]}), RECORD)


class TestOperators:
    @pytest.mark.parametrize(
        ("rules", "expected"),
        [
            ([{"prefix": "Ann"}], True),
            ([{"prefix": "ann"}], False),
            ([{"prefix": {"equals-ignore-case": "ANN@"}}], True),
            ([{"suffix": ".com"}], True),
            ([{"suffix": ".COM"}], False),
            ([{"suffix": {"equals-ignore-case": "EXAMPLE.COM"}}], True),
            ([{"equals-ignore-case": "ann@example.COM"}], True),
            ([{"equals-ignore-case": "ann"}], False),
            ([{"anything-but": "x"}], True),
            ([{"anything-but": ["Ann@Example.com", "y"]}], False),
            ([{"anything-but": {"prefix": "Ann"}}], False),
            ([{"anything-but": {"prefix": "Bob"}}], True),
            ([{"anything-but": {"suffix": ".com"}}], False),
            ([{"anything-but": {"equals-ignore-case": ["ANN@EXAMPLE.COM"]}}], False),
            ([{"anything-but": {"equals-ignore-case": "bob"}}], True),
            ([{"anything-but": {"wildcard": "*@Example.com"}}], False),
            ([{"wildcard": "Ann@*.com"}], True),
            ([{"wildcard": "Ann@*.org"}], False),
            ([{"wildcard": "*"}], True),
            (["", "Ann@Example.com"], True),
            ([""], False),
            ([{"exists": True}], True),
            ([{"exists": False}], False),
        ],
    )
    def test_string_rules(self, rules: list[Any], expected: bool) -> None:
        assert passes(new("email", {"S": rules}), RECORD) is expected

    def test_wildcard_escapes(self) -> None:
        record = make_stream_record(keys={"pk": "a*b"})
        assert passes({"dynamodb": {"Keys": {"pk": {"S": [{"wildcard": "a\\*b"}]}}}}, record)
        assert not passes({"dynamodb": {"Keys": {"pk": {"S": [{"wildcard": "a\\*c"}]}}}}, record)

    def test_bool_and_null(self) -> None:
        assert passes(new("flag", {"BOOL": [True]}), RECORD)
        assert not passes(new("flag", {"BOOL": [False]}), RECORD)
        assert not passes(new("flag", {"BOOL": ["true"]}), RECORD)
        assert passes(new("nothing", {"NULL": [True]}), RECORD)

    def test_null_value_exists(self) -> None:
        record = {"a": None}
        assert passes({"a": [None]}, record)
        assert passes({"a": [{"exists": True}]}, record)
        assert not passes({"a": [""]}, record)
        assert not passes({"a": [None]}, {"a": ""})

    @pytest.mark.parametrize(
        ("numeric", "expected"),
        [
            (["=", 26], True),
            (["=", 25], False),
            ([">", 25], True),
            ([">", 26], False),
            ([">=", 26], True),
            (["<", 27], True),
            (["<=", 25], False),
            ([">", 0, "<=", 26], True),
            ([">", 0, "<", 26], False),
            ([">=", 26, "<", 27], True),
        ],
    )
    def test_numeric(self, numeric: list[Any], expected: bool) -> None:
        record = {"size": 26}
        assert passes({"size": [{"numeric": numeric}]}, record) is expected

    def test_numbers_compare_by_text_for_equality(self) -> None:
        assert passes({"n": [300]}, {"n": 300})
        assert not passes({"n": [300]}, {"n": 300.0})
        assert passes({"n": [300.0]}, {"n": 300.0})
        assert not passes({"n": [300]}, {"n": "300"})
        assert passes({"n": [{"numeric": ["=", 300]}]}, {"n": 300.0})

    def test_anything_but_numbers(self) -> None:
        assert passes({"n": [{"anything-but": [1, 2]}]}, {"n": 3})
        assert not passes({"n": [{"anything-but": 3}]}, {"n": 3})

    def test_anything_but_needs_the_field(self) -> None:
        assert not passes({"a": [{"anything-but": "x"}]}, {"b": "y"})

    def test_cidr(self) -> None:
        assert passes(new("ip", {"S": [{"cidr": "10.0.0.0/24"}]}), RECORD)
        assert not passes(new("ip", {"S": [{"cidr": "10.0.1.0/24"}]}), RECORD)
        assert not passes(new("email", {"S": [{"cidr": "10.0.0.0/8"}]}), RECORD)

    def test_sets_match_any_member(self) -> None:
        assert passes(new("tags", {"SS": ["b"]}), RECORD)
        assert not passes(new("tags", {"SS": ["c"]}), RECORD)

    def test_lists_of_objects_keep_fields_together(self) -> None:
        both = {"L": {"M": {"sku": {"S": ["x1"]}, "qty": {"N": ["2"]}}}}
        crossed = {"L": {"M": {"sku": {"S": ["x1"]}, "qty": {"N": ["1"]}}}}
        assert passes(new("items", both), RECORD)
        assert not passes(new("items", crossed), RECORD)

    def test_or_across_fields(self) -> None:
        pattern = {
            "eventName": ["MODIFY"],
            "$or": [
                {"dynamodb": {"NewImage": {"status": {"S": ["CANCELLED"]}}}},
                {"dynamodb": {"OldImage": {"status": {"S": ["NEW"]}}}},
            ],
        }
        assert passes(pattern, RECORD)
        pattern["eventName"] = ["INSERT"]
        assert not passes(pattern, RECORD)

    def test_nested_or(self) -> None:
        pattern = {
            "dynamodb": {
                "$or": [
                    {"Keys": {"pk": {"S": ["nobody"]}}},
                    {"$or": [{"SizeBytes": [0]}, {"StreamViewType": ["NEW_AND_OLD_IMAGES"]}]},
                ]
            }
        }
        assert passes(pattern, RECORD)

    def test_duplicate_keys_last_wins(self) -> None:
        pattern = compile_pattern('{"eventName": ["INSERT"], "eventName": ["MODIFY"]}')
        assert pattern.matches(RECORD)

    def test_plain_dicts_in_matches(self) -> None:
        assert matches([{"eventName": ["MODIFY"]}], RECORD)
        with pytest.raises(ConfigurationError):
            matches([{"eventName": []}], RECORD)


# ------------------------------------------------------------------------------ properties

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
records = st.dictionaries(st.text(max_size=4), json_values, max_size=5)
operator_names = st.sampled_from(
    [
        "prefix",
        "suffix",
        "equals-ignore-case",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
        "wildcard",
        "$or",
        "other",
    ]
)
garbage_values = st.recursive(
    json_scalars | operator_names,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(operator_names | st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=15,
)


@given(st.one_of(st.text(max_size=50), garbage_values.map(json.dumps)))
def test_garbage_patterns_raise_only_configuration_error(text: str) -> None:
    outcome: object
    try:
        outcome = compile_pattern(text)
    except ConfigurationError as exc:
        outcome = str(exc)
    assert isinstance(outcome, Pattern) or outcome == INVALID_PATTERN


@given(garbage_values, records)
def test_matching_never_crashes(pattern: Any, record: dict[str, Any]) -> None:
    try:
        compiled = compile_pattern({"f": pattern} if not isinstance(pattern, dict) else pattern)
    except ConfigurationError:
        return
    assert compiled.matches(record) in (True, False)


scalar_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)


@given(scalar_values)
def test_pattern_matches_its_own_scalar(value: Any) -> None:
    assert passes({"a": [value]}, {"a": value})


@given(scalar_values, scalar_values)
def test_anything_but_is_the_complement_of_exact_match(excluded: Any, value: Any) -> None:
    if excluded is None or isinstance(excluded, bool):
        return  # anything-but takes only strings and numbers
    exact = passes({"a": [excluded]}, {"a": value})
    assert passes({"a": [{"anything-but": excluded}]}, {"a": value}) is not exact


@given(st.text(max_size=6), st.text(max_size=6))
def test_prefix_and_suffix_agree_with_str(prefix: str, value: str) -> None:
    assert passes({"a": [{"prefix": prefix}]}, {"a": value}) is value.startswith(prefix)
    assert passes({"a": [{"suffix": prefix}]}, {"a": value}) is value.endswith(prefix)


@given(records, st.text(max_size=4).filter(lambda f: f != "$or"))  # "$or" is an operator
def test_exists_true_and_false_are_complements(record: dict[str, Any], field: str) -> None:
    present = passes({field: [{"exists": True}]}, record)
    assert passes({field: [{"exists": False}]}, record) is not present


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(-100, 100))
def test_numeric_range_agrees_with_comparison(value: float, bound: int) -> None:
    assert passes({"a": [{"numeric": [">", bound]}]}, {"a": value}) is (value > bound)
    assert passes({"a": [{"numeric": ["<=", bound]}]}, {"a": value}) is (value <= bound)
