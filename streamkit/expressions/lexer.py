"""Tokenizer shared by every expression grammar; never fails (unknown characters become BAD)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Kind", "Token", "tokenize"]


class Kind(Enum):
    """Token kinds."""

    IDENT = "IDENT"  # letter followed by letters, digits, underscores
    NAME = "NAME"  # #placeholder
    VALUE = "VALUE"  # :placeholder
    NUMBER = "NUMBER"  # digits (list indexes only)
    OP = "OP"  # = <> < <= > >= ( ) [ ] , . + -
    BAD = "BAD"  # any other single character
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its source text and where it starts and ends."""

    kind: Kind
    text: str
    start: int
    end: int

    def is_word(self, word: str) -> bool:
        """Return True if this is the identifier ``word`` (keywords are case-insensitive)."""
        return self.kind is Kind.IDENT and self.text.upper() == word

    def is_op(self, *ops: str) -> bool:
        """Return True if this is one of the punctuation tokens ``ops``."""
        return self.kind is Kind.OP and self.text in ops


_WHITESPACE = " \t\r\n"
_TWO_CHAR = ("<>", "<=", ">=")
_ONE_CHAR = "=<>()[],.+-"


def _is_letter(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_word_char(ch: str) -> bool:
    return _is_letter(ch) or ("0" <= ch <= "9") or ch == "_"


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, always ending with an EOF token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
            continue
        start = i
        if _is_letter(ch):
            i += 1
            while i < n and _is_word_char(text[i]):
                i += 1
            kind = Kind.IDENT
        elif ch in "#:" and i + 1 < n and _is_word_char(text[i + 1]):
            i += 2
            while i < n and _is_word_char(text[i]):
                i += 1
            kind = Kind.NAME if ch == "#" else Kind.VALUE
        elif "0" <= ch <= "9":
            while i < n and "0" <= text[i] <= "9":
                i += 1
            kind = Kind.NUMBER
        elif text.startswith(_TWO_CHAR, i):
            i += 2
            kind = Kind.OP
        elif ch in _ONE_CHAR:
            i += 1
            kind = Kind.OP
        else:
            i += 1
            kind = Kind.BAD
        tokens.append(Token(kind, text[start:i], start, i))
    tokens.append(Token(Kind.EOF, "<EOF>", n, n))
    return tokens
