"""The SAS REST filter language: a tokenizer, a recursive-descent parser and an evaluator.

Grammar (what SAS services accept in ``?filter=``)::

    expr   := NAME "(" [arg ("," arg)*] ")"
    arg    := expr | STRING | WORD
    STRING := '...' | "..."      (quote doubled or backslash-escaped inside)
    WORD   := run of characters other than  ( ) , ' "  and whitespace

Functions: ``and``/``or`` (2+ expressions), ``not``; ``eq ne lt le gt ge``
(field, value); ``in`` (field, value, ...); ``startsWith endsWith contains``
(field, value); ``isNull`` (field). Fields are names or dotted paths.

Values are compared in the field's type: timestamps as instants (ISO 8601,
``Z`` or offset), numbers numerically, booleans by ``true``/``false``, strings
as given (case-sensitive, as SAS does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Resolver = Callable[[str], Any]  # field path -> value (str, int, float, bool, datetime, None)

_SPECIAL = set("(),'\"")
_COMPARE = {"eq", "ne", "lt", "le", "gt", "ge"}
_STRING_FNS = {"startsWith", "endsWith", "contains"}


class FilterError(ValueError):
    """A malformed filter; the message says where (0-based character position)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "(" ")" "," "str" "word" "end"
    text: str
    pos: int


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Call | Literal, ...]
    pos: int


def tokenize(text: str) -> list[Token]:
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            toks.append(Token(c, c, i))
            i += 1
        elif c in "'\"":
            start, i, buf = i, i + 1, []
            while True:
                if i >= n:
                    raise FilterError(f"unterminated string starting at position {start}")
                ch = text[i]
                if ch == "\\" and i + 1 < n:
                    buf.append(text[i + 1])
                    i += 2
                elif ch == c:
                    if i + 1 < n and text[i + 1] == c:  # doubled quote
                        buf.append(c)
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    buf.append(ch)
                    i += 1
            toks.append(Token("str", "".join(buf), start))
        else:
            start = i
            while i < n and text[i] not in _SPECIAL and not text[i].isspace():
                i += 1
            toks.append(Token("word", text[start:i], start))
    toks.append(Token("end", "", n))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self, kind: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            want = {"word": "a name", "end": "end of filter"}.get(kind, f"'{kind}'")
            got = tok.text or "end of filter"
            raise FilterError(f"expected {want} at position {tok.pos}, found '{got}'")
        self.i += 1
        return tok

    def parse(self) -> Call:
        node = self.call()
        self.take("end")
        return node

    def call(self) -> Call:
        name = self.take("word")
        self.take("(")
        args: list[Call | Literal] = []
        if self.peek().kind != ")":
            args.append(self.arg())
            while self.peek().kind == ",":
                self.i += 1
                args.append(self.arg())
        self.take(")")
        return Call(name.text, tuple(args), name.pos)

    def arg(self) -> Call | Literal:
        tok = self.peek()
        if tok.kind == "str":
            self.i += 1
            return Literal(tok.text, True)
        if tok.kind == "word":
            if self.toks[self.i + 1].kind == "(":
                return self.call()
            self.i += 1
            return Literal(tok.text, False)
        raise FilterError(
            f"expected a value at position {tok.pos}, found '{tok.text or 'end of filter'}'"
        )


def parse(text: str) -> Call:
    """Parse and check arities; raises :class:`FilterError`."""
    tree = _Parser(text).parse()
    _check(tree)
    return tree


def _check(node: Call) -> None:
    name, args = node.name, node.args

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise FilterError(f"{name}() at position {node.pos} takes {what}")

    def field_first() -> None:
        need(
            bool(args) and isinstance(args[0], Literal) and not args[0].quoted, "a field name first"
        )

    if name in ("and", "or"):
        need(len(args) >= 2 and all(isinstance(a, Call) for a in args), "two or more expressions")
    elif name == "not":
        need(len(args) == 1 and isinstance(args[0], Call), "one expression")
    elif name in _COMPARE or name in _STRING_FNS:
        field_first()
        need(len(args) == 2 and isinstance(args[1], Literal), "a field and a value")
    elif name == "in":
        field_first()
        need(
            len(args) >= 2 and all(isinstance(a, Literal) for a in args[1:]),
            "a field and one or more values",
        )
    elif name == "isNull":
        field_first()
        need(len(args) == 1, "one field")
    else:
        raise FilterError(f"unknown function '{name}' at position {node.pos}")
    for a in args:
        if isinstance(a, Call):
            _check(a)


def _parse_time(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _coerce(value: Any, text: str) -> Any:
    """Convert a literal to the field value's type (None when it cannot be)."""
    try:
        if isinstance(value, bool):
            return text.lower() == "true"
        if isinstance(value, int | float):
            return float(text)
        if isinstance(value, datetime):
            return _parse_time(text)
    except ValueError:
        return None
    return text


def _compare(op: str, value: Any, text: str) -> bool:
    if value is None:
        return op == "ne"
    other = _coerce(value, text)
    if other is None:
        return op == "ne"
    if isinstance(value, bool | int | float) and not isinstance(value, bool):
        value = float(value)
    elif not isinstance(value, bool | datetime):
        value = str(value)
    match op:
        case "eq":
            return bool(value == other)
        case "ne":
            return bool(value != other)
        case "lt":
            return bool(value < other)
        case "le":
            return bool(value <= other)
        case "gt":
            return bool(value > other)
        case _:
            return bool(value >= other)


def evaluate(node: Call, resolve: Resolver) -> bool:
    name, args = node.name, node.args
    if name == "and":
        return all(evaluate(a, resolve) for a in args)  # type: ignore[arg-type]
    if name == "or":
        return any(evaluate(a, resolve) for a in args)  # type: ignore[arg-type]
    if name == "not":
        return not evaluate(args[0], resolve)  # type: ignore[arg-type]
    field = args[0].text  # type: ignore[union-attr]
    value = resolve(field)
    if name == "isNull":
        return value is None
    if name in _COMPARE:
        return _compare(name, value, args[1].text)  # type: ignore[union-attr]
    if name == "in":
        return any(_compare("eq", value, a.text) for a in args[1:])  # type: ignore[union-attr]
    if value is None:
        return False
    s, arg = str(value), args[1].text  # type: ignore[union-attr]
    if name == "startsWith":
        return s.startswith(arg)
    if name == "endsWith":
        return s.endswith(arg)
    return arg in s


def compile_filter(text: str) -> Callable[[Resolver], bool]:
    """Parse once, evaluate many times: ``pred = compile_filter(f); pred(resolver)``."""
    tree = parse(text)
    return lambda resolve: evaluate(tree, resolve)
