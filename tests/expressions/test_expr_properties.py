"""Property tests: robustness on garbage, render/parse round trips, evaluator laws."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from streamkit.errors import ValidationException
from streamkit.expressions import (
    And,
    Between,
    Comparison,
    Condition,
    ExpressionContext,
    FunctionCondition,
    Not,
    Or,
    PathExpr,
    Projection,
    RemoveAction,
    SetAction,
    UpdatePlan,
    UpdateSection,
    ValueRef,
    apply_update,
    evaluate,
    get_path,
    parse_condition,
    parse_key_condition,
    parse_projection,
    parse_projection_expr,
    parse_update,
    project,
    render,
)
from tests.expressions.expr_strategies import (
    NAMES,
    VALUES,
    conditions,
    context,
    items,
    paths,
    scalars,
    token_soup,
    values,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
garbage = st.one_of(st.text(max_size=40), token_soup())


def _only_validation(fn: Any, text: str) -> None:
    with contextlib.suppress(ValidationException):
        fn(text)


class TestGarbage:
    @FAST
    @given(garbage)
    def test_condition(self, text: str) -> None:
        _only_validation(lambda t: parse_condition(t, context(), kind="FilterExpression"), text)

    @FAST
    @given(garbage)
    def test_update(self, text: str) -> None:
        _only_validation(lambda t: parse_update(t, context()), text)

    @FAST
    @given(garbage)
    def test_projection(self, text: str) -> None:
        _only_validation(lambda t: parse_projection(t, context()), text)

    @FAST
    @given(garbage)
    def test_key_condition(self, text: str) -> None:
        _only_validation(lambda t: parse_key_condition(t, context()), text)

    @FAST
    @given(garbage, items())
    def test_parsed_garbage_evaluates_and_applies(self, text: str, item: dict[str, Any]) -> None:
        try:
            cond = parse_condition(text, context())
        except ValidationException:
            pass
        else:
            evaluate(cond, item)
        try:
            plan = parse_update(text, context())
        except ValidationException:
            return
        with contextlib.suppress(ValidationException):
            apply_update(plan, item)


class TestRoundTrip:
    @FAST
    @given(conditions())
    def test_condition(self, cond: Condition) -> None:
        text = render(cond)
        assert parse_condition(text, context()) == cond
        assert render(parse_condition(text, context())) == text

    @FAST
    @given(st.lists(paths(), min_size=1, max_size=4))
    def test_projection(self, path_list: list[PathExpr]) -> None:
        kept: list[PathExpr] = []
        for p in path_list:
            if all(not _related(p.path, q.path) for q in kept):
                kept.append(p)
        projection = Projection(tuple(kept))
        assert parse_projection_expr(render(projection), context()) == projection

    @FAST
    @given(st.data())
    def test_update(self, data: st.DataObject) -> None:
        plan = data.draw(updates())
        assert parse_update(render(plan), context()) == plan


def _related(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """True if two paths would overlap or conflict."""
    for x, y in zip(a, b, strict=False):
        if isinstance(x, int) != isinstance(y, int):
            return True
        if x != y:
            return False
    return True


@st.composite
def updates(draw: st.DrawFn) -> UpdatePlan:
    """Update plans with non-overlapping targets."""
    targets: list[PathExpr] = []
    for p in draw(st.lists(paths(), min_size=1, max_size=5)):
        if all(not _related(p.path, q.path) for q in targets):
            targets.append(p)
    set_actions: list[SetAction] = []
    remove_actions: list[RemoveAction] = []
    for target in targets:
        if draw(st.booleans()):
            source = draw(st.one_of(paths(), st.sampled_from(sorted(VALUES))))
            value = source if isinstance(source, PathExpr) else ValueRef(source, VALUES[source])
            set_actions.append(SetAction(target, value))
        else:
            remove_actions.append(RemoveAction(target))
    sections = []
    if set_actions:
        sections.append(UpdateSection("SET", tuple(set_actions)))
    if remove_actions:
        sections.append(UpdateSection("REMOVE", tuple(remove_actions)))
    if draw(st.booleans()):
        sections.reverse()
    return UpdatePlan(tuple(sections))


class TestLaws:
    @FAST
    @given(conditions(), items())
    def test_double_negation(self, cond: Condition, item: dict[str, Any]) -> None:
        assert evaluate(Not(Not(cond)), item) == evaluate(cond, item)

    @FAST
    @given(conditions(), conditions(), items())
    def test_de_morgan(self, a: Condition, b: Condition, item: dict[str, Any]) -> None:
        assert evaluate(Not(And(a, b)), item) == evaluate(Or(Not(a), Not(b)), item)

    @FAST
    @given(paths(), items())
    def test_attribute_exists_iff_present(self, path: PathExpr, item: dict[str, Any]) -> None:
        present = get_path(item, path.path) is not None
        assert evaluate(FunctionCondition("attribute_exists", (path,)), item) is present
        assert evaluate(FunctionCondition("attribute_not_exists", (path,)), item) is not present

    @FAST
    @given(scalars(), scalars(), scalars())
    def test_between_is_two_comparisons(
        self, x: dict[str, Any], low: dict[str, Any], high: dict[str, Any]
    ) -> None:
        subject = PathExpr.of("x")
        lo, hi = ValueRef(":lo", low), ValueRef(":hi", high)
        item = {"x": x}
        between = evaluate(Between(subject, lo, hi), item)
        both = evaluate(And(Comparison("<=", lo, subject), Comparison("<=", subject, hi)), item)
        assert between == both

    @FAST
    @given(values(), values())
    def test_equality_is_symmetric_and_reflexive(
        self, a: dict[str, Any], b: dict[str, Any]
    ) -> None:
        ea, eb = ValueRef(":a", a), ValueRef(":b", b)
        assert evaluate(Comparison("=", ea, eb), {}) == evaluate(Comparison("=", eb, ea), {})
        assert evaluate(Comparison("=", ea, ea), {})
        assert evaluate(Comparison("<>", ea, eb), {}) != evaluate(Comparison("=", ea, eb), {})

    @FAST
    @given(items(), st.lists(paths(), max_size=4))
    def test_projection_is_a_subset(self, item: dict[str, Any], path_list: list[PathExpr]) -> None:
        resolved = [p.path for p in path_list]
        out = project(item, resolved)
        assert set(out) <= set(item)
        for path in resolved:
            # Selected list elements are compacted (a[1] of [x, y] comes back as [y]), as in
            # DynamoDB, so only paths without list indexes keep their address.
            if (
                all(isinstance(step, str) for step in path)
                and get_path(item, path) is not None
                and not any(_related(path, q) and len(q) < len(path) for q in resolved)
            ):
                assert get_path(out, path) is not None

    @FAST
    @given(items(), st.sampled_from(sorted(NAMES)))
    def test_set_then_get(self, item: dict[str, Any], placeholder: str) -> None:
        ctx = ExpressionContext({placeholder: NAMES[placeholder]}, {":v": {"N": "7"}})
        out = apply_update(parse_update(f"SET {placeholder} = :v", ctx), item)
        assert out[NAMES[placeholder]] == {"N": "7"}
        assert {k: v for k, v in out.items() if k != NAMES[placeholder]} == {
            k: v for k, v in item.items() if k != NAMES[placeholder]
        }
