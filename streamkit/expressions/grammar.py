"""The condition grammar both condition front ends parse with.

DynamoDB's ConditionExpression, FilterExpression and KeyConditionExpression
(:mod:`streamkit.expressions.parser`) and PartiQL's WHERE clause
(:mod:`streamkit.expressions.partiql`) share one grammar for conditions::

    disjunction := conjunction (OR conjunction)*
    conjunction := negation (AND negation)*
    negation    := NOT negation | predicate
    comparison  := comparator comparand
                 | BETWEEN comparand AND comparand
                 | IN list-open comparand (',' comparand)* list-close

:class:`ConditionGrammar` parses that much, counting each operator and each NOT's level of
nesting, so a fix to how conditions combine and compare lands once. Each front end brings its
own tokens (the two lexers differ), its predicates (what an atom may be: DynamoDB's
parenthesised operands and function conditions, PartiQL's ``IS [NOT] MISSING``), its operands,
its limits' messages and its checks after each comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .ast import And, Between, Comparison, Condition, In, Not, Operand, Or

__all__ = ["ConditionGrammar"]

T = TypeVar("T")


class ConditionGrammar:
    """OR over AND over NOT over a front end's predicates, and the comparisons after an operand.

    Subclasses implement the token hooks (:meth:`take_word`, :meth:`take_op`,
    :meth:`take_comparator`, :meth:`expect_word`, :meth:`expect_op`, :meth:`open_list`), the
    limits (:meth:`count_operator`, :meth:`enter`; ``depth`` is decremented on the way out),
    :meth:`predicate` and :meth:`comparand`, and may check what was parsed in
    :meth:`after_comparison`, :meth:`after_between` and :meth:`after_in`.
    """

    depth: int

    # -- hooks: tokens ----------------------------------------------------------------------

    def take_word(self, word: str) -> bool:
        """Consume the keyword ``word`` (upper case; matched in any case) if it is next."""
        raise NotImplementedError

    def take_op(self, *ops: str) -> str | None:
        """Consume and return the next token if it is one of the punctuation ``ops``."""
        raise NotImplementedError

    def take_comparator(self) -> str | None:
        """Consume a comparator if one is next; return it as the AST spells it."""
        raise NotImplementedError

    def expect_word(self, word: str) -> object:
        """Consume the keyword ``word`` or raise the front end's syntax error."""
        raise NotImplementedError

    def expect_op(self, op: str) -> object:
        """Consume the punctuation ``op`` or raise the front end's syntax error."""
        raise NotImplementedError

    def open_list(self) -> str:
        """Consume what opens IN's list (or raise); return the punctuation that closes it."""
        raise NotImplementedError

    # -- hooks: limits, atoms, checks -------------------------------------------------------

    def count_operator(self) -> None:
        """Count one operator against the front end's limit (raising past it)."""
        raise NotImplementedError

    def enter(self) -> None:
        """Go one level deeper (raising past the limit); the caller decrements ``depth``."""
        raise NotImplementedError

    def predicate(self) -> Condition:
        """One atom of a condition."""
        raise NotImplementedError

    def comparand(self) -> Operand:
        """An operand on the right of a comparator, BETWEEN or IN."""
        raise NotImplementedError

    def after_comparison(self, op: str, left: Operand, right: Operand) -> None:
        """Check ``left op right`` (nothing by default)."""

    def after_between(self, subject: Operand, low: Operand, high: Operand) -> None:
        """Check ``subject BETWEEN low AND high`` (nothing by default)."""

    def after_in(self, subject: Operand, options: Sequence[Operand]) -> None:
        """Check ``subject IN (options)`` (nothing by default)."""

    # -- the grammar ------------------------------------------------------------------------

    def separated(self, item: Callable[[], T]) -> list[T]:
        """One or more ``item`` separated by commas (function arguments, IN's list, ...)."""
        items = [item()]
        while self.take_op(","):
            items.append(item())
        return items

    def disjunction(self) -> Condition:
        """``conjunction (OR conjunction)*``, left-associative."""
        node = self.conjunction()
        while self.take_word("OR"):
            self.count_operator()
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Condition:
        """``negation (AND negation)*``, left-associative."""
        node = self.negation()
        while self.take_word("AND"):
            self.count_operator()
            node = And(node, self.negation())
        return node

    def negation(self) -> Condition:
        """``NOT negation`` (one operator and one level each) or a predicate."""
        if self.take_word("NOT"):
            self.count_operator()
            self.enter()
            node = Not(self.negation())
            self.depth -= 1
            return node
        return self.predicate()

    def comparison(self, left: Operand) -> Condition | None:
        """The comparison that follows ``left``, or None (nothing consumed) when none does."""
        op = self.take_comparator()
        if op is not None:
            self.count_operator()
            right = self.comparand()
            self.after_comparison(op, left, right)
            return Comparison(op, left, right)
        if self.take_word("BETWEEN"):
            self.count_operator()
            low = self.comparand()
            self.expect_word("AND")
            high = self.comparand()
            self.after_between(left, low, high)
            return Between(left, low, high)
        if self.take_word("IN"):
            self.count_operator()
            closing = self.open_list()
            options = self.separated(self.comparand)
            self.expect_op(closing)
            self.after_in(left, options)
            return In(left, tuple(options))
        return None
