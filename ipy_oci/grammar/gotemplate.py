"""Go ``text/template`` for ``--format``, as podman 4.3 (Go 1.19) renders it.

podman's ``--format`` flags take Go templates::

    ipy-oci inspect --format '{{.State.Status}}' web
    ipy-oci ps --format 'table {{.ID}}\\t{{.Image}}\\t{{.Names}}'

This module is a lexer, a parser to a small tree and an evaluator over Python
data, written from the Go documentation of ``text/template`` and ``fmt`` and
checked against podman 4.3.1. The API:

- ``render(template, data, name="")``: execute a template on one value, exactly
  as Go's ``Template.Execute`` would (no podman munging).
- ``render_rows(template, rows, heading=True, name="", headers=None)``: what
  podman's ``ps``, ``images``, ``inspect`` ... do with a user's ``--format``:
  literal ``\\t`` and ``\\n`` become tab and newline, a newline is appended
  unless the template ends with one, and the template is wrapped in
  ``{{range .}}...{{end -}}`` (unless it has its own) and executed on the list
  of rows, so there is one line per row, ``$`` is the list and error columns
  are podman's. A template that starts with ``table `` gets a header line
  (``{{.CreatedAt}}`` gives ``CREATED AT``; ``headers`` overrides names, e.g.
  ``{"ID": "CONTAINER ID"}``; ``heading=False`` is ``--noheading``), every
  space turned into a column break, and columns aligned like podman's
  tabwriter (minimum width 12, padding 2).
- ``normalize_format``, ``has_table``, ``is_json`` (podman's report helpers),
  ``header_for`` (``CreatedAt`` -> ``CREATED AT``), ``tabwrite`` (Go's
  ``text/tabwriter``), ``parse_template`` (parsed templates are cached).
- ``TemplateError`` (a ``UsageError``, exit code 125) for every syntax or
  execution error, worded like Go's: ``template: ps:1:2: executing "ps" at
  <.Foo>: can't evaluate field Foo in type struct``.

Data: dicts (podman's field names as keys), lists, tuples, str, int, float, bool,
None, and other objects' public attributes. A dict is a Go *struct* by default:
``.Foo`` on a dict without the key ``Foo`` is an error, as with podman. A dict
reached through a key that podman declares as a map (``MAP_FIELDS``: ``Labels``,
``Annotations``, ``Networks``, ``Ports`` ...) or wrapped in ``GoMap`` is a Go
*map*: a missing key gives ``<no value>`` and JSON sorts its keys (struct dicts
keep their order). ``range`` visits any dict in sorted key order.

Supported: text and actions, ``{{- -}}`` trimming, comments, ``if``/``else
if``/``else``, ``with``/``else``, ``range`` (one or two variables, ``else``,
``break``, ``continue``), variables (``$x := ...``, ``$x = ...``, ``$``),
pipelines, parenthesized pipelines and chains (``(index .A 0).Name``), string
(with Go escapes), raw string, character, integer (0x, 0o, 0b, _), float, bool
and nil literals; Go's functions ``and or not len index slice print printf
println eq ne lt le gt ge html js urlquery call`` (and/or short-circuit, as
since Go 1.18) and podman's ``join json lower pad split title truncate upper``;
``printf`` with Go's verbs, flags, width, precision and ``%[n]`` indexes, and
Go's ``%!verb(type=value)`` error strings; Go's default printing of values
(``[a b]``, ``map[a:1 b:2]``, ``<no value>``, ``1e+06``).

Not supported: ``define``, ``template`` and ``block`` (a parse error says so);
method calls (an attribute that is a method is an error); complex numbers;
custom delimiters and the ``missingkey`` option; ranging over integers (Go 1.22)
and ``else with`` (Go 1.23), as in podman's Go 1.19.

Differences from podman, all where Python data cannot say what Go types say: a
struct dict prints like a map (``map[Status:running ...]`` where Go prints
``{running ...}``) and error messages call its type ``struct`` (podman names the
Go type, ``*define.InspectContainerState``); ``index`` reads any dict (Go refuses
structs); a missing map key's ``index`` zero value is ``""`` when the map's
values are all strings, else nil; ``truncate`` and tabwriter widths count
characters (podman's ``truncate`` counts bytes; ``len``, ``index``, ``slice`` of
strings and error columns count UTF-8 bytes, as in Go). A table's header row is
rendered leniently: ``.A.B`` gives ``B``'s header and ranging over a header
runs its body once (podman fails there).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, NoReturn

from ipy_oci.errors import UsageError

from .tabwriter import tabwrite

__all__ = [
    "MAP_FIELDS",
    "GoMap",
    "Template",
    "TemplateError",
    "has_table",
    "header_for",
    "is_json",
    "normalize_format",
    "parse_template",
    "render",
    "render_rows",
    "tabwrite",
]


class TemplateError(UsageError):
    """A --format template that does not parse or does not execute (exit code 125)."""


class GoMap(dict[Any, Any]):
    """A dict with Go map semantics: a missing ``.Key`` is ``<no value>``, JSON keys sorted."""


#: Keys under which podman's inspect data holds Go maps rather than structs.
MAP_FIELDS = frozenset({
    "Annotations", "Data", "DriverOpts", "ExposedPorts", "Labels", "Networks",
    "Options", "PortBindings", "Ports", "StorageOpt", "Sysctls", "Tmpfs", "Volumes",
})


class _Missing:
    """Go's invalid reflect.Value: a missing map key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


_MISSING: Any = _Missing()


class _NoFinal:
    """No value is piped into this command."""

    __slots__ = ()


_NOFINAL: Any = _NoFinal()


class _FuncError(Exception):
    """An error returned by a template function ("error calling NAME: ...")."""


# ---------------------------------------------------------------------------
# Lexer

_SPACES = " \t\r\n"


class _Tok:
    __slots__ = ("typ", "pos", "val")

    def __init__(self, typ: str, pos: int, val: str) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val

    _KEYWORDISH = frozenset({
        "block", "break", "continue", "define", "dot", "else", "end", "if", "nil",
        "range", "template", "with",
    })

    def __str__(self) -> str:
        if self.typ == "eof":
            return "EOF"
        if self.typ == "error":
            return self.val
        if self.typ in self._KEYWORDISH:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


_KEYWORDS = frozenset({
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
})


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _u(c: str) -> str:
    """Go's %#U."""
    return f"U+{ord(c):04X} '{c}'" if c.isprintable() else f"U+{ord(c):04X}"


class _LexError(Exception):
    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pos = pos


def _lex(text: str) -> list[_Tok]:
    """Tokens of a template; a lexical error ends the list with an "error" token."""
    toks: list[_Tok] = []
    try:
        _lex_into(text, toks)
    except _LexError as e:
        toks.append(_Tok("error", e.pos, e.msg))
    # The parser may look a few tokens past the end.
    toks.extend(_Tok("eof", len(text), "") for _ in range(4))
    return toks


def _lex_into(text: str, toks: list[_Tok]) -> None:
    n = len(text)
    pos = 0
    while True:
        i = text.find("{{", pos)
        if i < 0:
            if pos < n:
                toks.append(_Tok("text", pos, text[pos:]))
            return
        ltrim = i + 3 < n and text[i + 2] == "-" and text[i + 3] in _SPACES
        seg = text[pos:i]
        if ltrim:
            seg = seg.rstrip(_SPACES)
        if seg:
            toks.append(_Tok("text", pos, seg))
        p = i + (4 if ltrim else 2)
        if text.startswith("/*", p):
            end = text.find("*/", p + 2)
            if end < 0:
                raise _LexError("unclosed comment", i)
            p = end + 2
            rtrim = p + 1 < n and text[p] in _SPACES and text[p + 1] == "-" \
                and text.startswith("}}", p + 2)
            if rtrim:
                p += 2
            elif not text.startswith("}}", p):
                raise _LexError("comment ends before closing delimiter", i)
            p += 2
            if rtrim:
                while p < n and text[p] in _SPACES:
                    p += 1
            pos = p
            continue
        toks.append(_Tok("{{", i, "{{"))
        pos = _lex_action(text, p, toks)


def _at_terminator(text: str, p: int) -> bool:
    if p >= len(text):
        return True
    return text[p] in _SPACES or text[p] in ".,|:)(}"


def _lex_action(text: str, p: int, toks: list[_Tok]) -> int:
    """Lex the inside of an action from p; return the position after its "}}"."""
    n = len(text)
    paren = 0
    while True:
        rtrim = p + 1 < n and text[p] in _SPACES and text[p + 1] == "-" \
            and text.startswith("}}", p + 2)
        if rtrim or text.startswith("}}", p):
            if paren:
                raise _LexError("unclosed left paren", p)
            if rtrim:
                p += 2
            toks.append(_Tok("}}", p, "}}"))
            p += 2
            if rtrim:
                while p < n and text[p] in _SPACES:
                    p += 1
            return p
        if p >= n:
            raise _LexError("unclosed action", p)
        c = text[p]
        start = p
        if c in _SPACES:
            while p < n and text[p] in _SPACES:
                p += 1
            if text.startswith("-}}", p):
                p -= 1  # the last space belongs to the trim marker " -}}"
                if p == start:
                    continue
            toks.append(_Tok("space", start, text[start:p]))
        elif c == "=":
            toks.append(_Tok("=", p, "="))
            p += 1
        elif c == ":":
            if not text.startswith(":=", p):
                raise _LexError("expected :=", p)
            toks.append(_Tok(":=", p, ":="))
            p += 2
        elif c == "|":
            toks.append(_Tok("|", p, "|"))
            p += 1
        elif c in "\"'":
            p += 1
            while True:
                if p >= n or text[p] == "\n":
                    raise _LexError("unterminated quoted string" if c == '"'
                                    else "unterminated character constant", start)
                if text[p] == "\\":
                    if p + 1 >= n or text[p + 1] == "\n":
                        raise _LexError("unterminated quoted string" if c == '"'
                                        else "unterminated character constant", start)
                    p += 2
                    continue
                p += 1
                if text[p - 1] == c:
                    break
            toks.append(_Tok("string" if c == '"' else "charconst", start, text[start:p]))
        elif c == "`":
            end = text.find("`", p + 1)
            if end < 0:
                raise _LexError("unterminated raw quoted string", start)
            p = end + 1
            toks.append(_Tok("rawstring", start, text[start:p]))
        elif c == "$" or (c == "." and not (p + 1 < n and "0" <= text[p + 1] <= "9")):
            p += 1
            if _at_terminator(text, p):
                toks.append(_Tok("variable" if c == "$" else "dot", start, c))
                continue
            while p < n and _is_alnum(text[p]):
                p += 1
            if not _at_terminator(text, p):
                raise _LexError(f"bad character {_u(text[p])}", start)
            toks.append(_Tok("variable" if c == "$" else "field", start, text[start:p]))
        elif c in "+-." or "0" <= c <= "9":
            p, ok = _scan_number(text, p)
            if not ok:
                raise _LexError(f"bad number syntax: {_go_quote(text[start:p])}", start)
            if p < n and text[p] in "+-":
                p, ok = _scan_number(text, p)
                if not ok or text[p - 1] != "i":
                    raise _LexError(f"bad number syntax: {_go_quote(text[start:p])}", start)
                toks.append(_Tok("complex", start, text[start:p]))
            else:
                toks.append(_Tok("number", start, text[start:p]))
        elif _is_alnum(c):
            while p < n and _is_alnum(text[p]):
                p += 1
            if not _at_terminator(text, p):
                raise _LexError(f"bad character {_u(text[p])}", start)
            word = text[start:p]
            if word in _KEYWORDS:
                typ = word
            elif word == "nil":
                typ = "nil"
            elif word in ("true", "false"):
                typ = "bool"
            else:
                typ = "identifier"
            toks.append(_Tok(typ, start, word))
        elif c == "(":
            paren += 1
            toks.append(_Tok("(", p, c))
            p += 1
        elif c == ")":
            paren -= 1
            toks.append(_Tok(")", p, c))
            p += 1
            if paren < 0:
                raise _LexError(f"unexpected right paren {_u(c)}", start)
        elif c <= "\x7f" and c.isprintable():
            toks.append(_Tok("char", p, c))
            p += 1
        else:
            raise _LexError(f"unrecognized character in action: {_u(c)}", start)


def _scan_number(text: str, p: int) -> tuple[int, bool]:
    n = len(text)

    def accept(valid: str) -> bool:
        nonlocal p
        if p < n and text[p] in valid:
            p += 1
            return True
        return False

    def accept_run(valid: str) -> None:
        nonlocal p
        while p < n and text[p] in valid:
            p += 1

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    accept_run(digits)
    if accept("."):
        accept_run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        accept_run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        accept_run("0123456789_")
    accept("i")
    if p < n and _is_alnum(text[p]):
        return p + 1, False
    return p, True


# ---------------------------------------------------------------------------
# Syntax tree


class _Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def __str__(self) -> str:
        return _go_quote(self.text)


class _Pipe(_Node):
    __slots__ = ("decls", "is_assign", "cmds")

    def __init__(self, pos: int, decls: list[str], is_assign: bool) -> None:
        super().__init__(pos)
        self.decls = decls
        self.is_assign = is_assign
        self.cmds: list[_Command] = []

    def __str__(self) -> str:
        s = ""
        if self.decls:
            s = ", ".join(self.decls) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.args: list[_Node] = []

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: _Pipe) -> None:
        super().__init__(pos)
        self.pipe = pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _Branch(_Node):
    """if, with and range."""

    __slots__ = ("kind", "pipe", "body", "else_body")

    def __init__(self, kind: str, pos: int, pipe: _Pipe, body: list[_Node],
                 else_body: list[_Node] | None) -> None:
        super().__init__(pos)
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body

    def __str__(self) -> str:
        s = "{{" + self.kind + " " + str(self.pipe) + "}}" + "".join(map(str, self.body))
        if self.else_body is not None:
            s += "{{else}}" + "".join(map(str, self.else_body))
        return s + "{{end}}"


class _Break(_Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{break}}"


class _Continue(_Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{continue}}"


class _End(_Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{end}}"


class _Else(_Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{else}}"


class _Field(_Node):
    __slots__ = ("names",)

    def __init__(self, pos: int, names: tuple[str, ...]) -> None:
        super().__init__(pos)
        self.names = names

    def __str__(self) -> str:
        return "".join("." + nm for nm in self.names)


class _Var(_Node):
    __slots__ = ("name", "names")

    def __init__(self, pos: int, name: str, names: tuple[str, ...] = ()) -> None:
        super().__init__(pos)
        self.name = name
        self.names = names

    def __str__(self) -> str:
        return self.name + "".join("." + nm for nm in self.names)


class _Chain(_Node):
    __slots__ = ("node", "names")

    def __init__(self, pos: int, node: _Node, names: tuple[str, ...]) -> None:
        super().__init__(pos)
        self.node = node
        self.names = names

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return inner + "".join("." + nm for nm in self.names)


class _Ident(_Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        super().__init__(pos)
        self.name = name

    def __str__(self) -> str:
        return self.name


class _Dot(_Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "."


class _Nil(_Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "nil"


class _Const(_Node):
    """A bool, string or number literal.

    ``value`` is what it is as an ``interface{}`` argument; ``as_int`` and
    ``as_float`` what it can be as a typed one (None when it cannot).
    """

    __slots__ = ("text", "value", "as_int", "as_float")

    def __init__(self, pos: int, text: str, value: Any, as_int: int | None = None,
                 as_float: float | None = None) -> None:
        super().__init__(pos)
        self.text = text
        self.value = value
        self.as_int = as_int
        self.as_float = as_float

    def __str__(self) -> str:
        return self.text


# ---------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.toks = _lex(text)
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.action_pos = -1

    # token stream

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        if self.i < len(self.toks) - 1:
            self.i += 1
        return tok

    def backup(self) -> None:
        self.i -= 1

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next_non_space(self) -> _Tok:
        tok = self.next()
        while tok.typ == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> _Tok:
        tok = self.next_non_space()
        self.backup()
        return tok

    def error(self, msg: str) -> NoReturn:
        pos = self.toks[max(self.i - 1, 0)].pos
        line = self.text.count("\n", 0, pos) + 1
        raise TemplateError(f"template: {self.name}:{line}: {msg}")

    def unexpected(self, tok: _Tok, context: str) -> NoReturn:
        if tok.typ == "error":
            extra = ""
            if self.action_pos >= 0:
                line = self.text.count("\n", 0, tok.pos) + 1
                started = self.text.count("\n", 0, self.action_pos) + 1
                if line != started:
                    extra = f" in action started at {self.name}:{started}"
                    if tok.val.endswith(" action"):
                        extra = extra[len(" in action"):]
            self.error(f"{tok.val}{extra}")
        self.error(f"unexpected {tok} in {context}")

    def expect(self, typ: str, context: str) -> _Tok:
        tok = self.next_non_space()
        if tok.typ != typ:
            self.unexpected(tok, context)
        return tok

    # grammar

    def parse(self) -> list[_Node]:
        root: list[_Node] = []
        while self.peek().typ != "eof":
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                self.error(f"unexpected {node}")
            root.append(node)
        return root

    def text_or_action(self) -> _Node:
        tok = self.next_non_space()
        if tok.typ == "text":
            return _Text(tok.pos, tok.val)
        if tok.typ == "{{":
            self.action_pos = tok.pos
            try:
                return self.action()
            finally:
                self.action_pos = -1
        self.unexpected(tok, "input")

    def action(self) -> _Node:
        tok = self.next_non_space()
        typ = tok.typ
        if typ in ("define", "template", "block"):
            self.error(f"{{{{{typ}}}}} is not supported by ipy-oci's templates")
        if typ in ("break", "continue"):
            end = self.next_non_space()
            if end.typ != "}}":
                self.unexpected(end, f"{{{{{typ}}}}}")
            if self.range_depth == 0:
                self.error(f"{{{{{typ}}}}} outside {{{{range}}}}")
            return _Break(tok.pos) if typ == "break" else _Continue(tok.pos)
        if typ == "else":
            if self.peek_non_space().typ == "if":
                return _Else(tok.pos)
            self.expect("}}", "else")
            return _Else(tok.pos)
        if typ == "end":
            self.expect("}}", "end")
            return _End(tok.pos)
        if typ in ("if", "range", "with"):
            return self.control(typ)
        self.backup()
        return _Action(self.peek().pos, self.pipeline("command", "}}"))

    def control(self, kind: str) -> _Branch:
        saved = len(self.vars)
        pipe = self.pipeline(kind, "}}")
        if kind == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body: list[_Node] | None = None
        if isinstance(nxt, _Else):
            if kind == "if" and self.peek().typ == "if":
                self.next()
                else_body = [self.control("if")]
            else:
                else_body, nxt = self.item_list()
                if not isinstance(nxt, _End):
                    self.error(f"expected end; found {nxt}")
        del self.vars[saved:]
        return _Branch(kind, pipe.pos, pipe, body, else_body)

    def item_list(self) -> tuple[list[_Node], _Node]:
        items: list[_Node] = []
        while self.peek_non_space().typ != "eof":
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return items, node
            items.append(node)
        self.error("unexpected EOF")

    _OPERAND_START = frozenset({
        "bool", "charconst", "complex", "dot", "field", "identifier", "number", "nil",
        "rawstring", "string", "variable", "(",
    })

    def pipeline(self, context: str, end: str) -> _Pipe:
        pos = self.peek_non_space().pos
        decls: list[str] = []
        is_assign = False
        while True:
            v = self.peek_non_space()
            if v.typ != "variable":
                break
            at_var = self.i
            self.next()
            nxt = self.peek_non_space()
            if nxt.typ in ("=", ":="):
                is_assign = nxt.typ == "="
                self.next_non_space()
                decls.append(v.val)
                self.vars.append(v.val)
                break
            if nxt.typ == "char" and nxt.val == ",":
                self.next_non_space()
                decls.append(v.val)
                self.vars.append(v.val)
                if context == "range" and len(decls) < 2:
                    if self.peek_non_space().typ in ("variable", "}}", ")"):
                        continue
                    self.error("range can only initialize variables")
                self.error(f"too many declarations in {context}")
            self.i = at_var
            break
        pipe = _Pipe(pos, decls, is_assign)
        while True:
            tok = self.next_non_space()
            if tok.typ == end:
                if not pipe.cmds:
                    self.error(f"missing value for {context}")
                for k, cmd in enumerate(pipe.cmds[1:]):
                    first = cmd.args[0]
                    if isinstance(first, _Const | _Dot | _Nil):
                        self.error(f"non executable command in pipeline stage {k + 2}")
                return pipe
            if tok.typ in self._OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(tok, context)

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ == "space":
                continue
            if tok.typ in ("}}", ")"):
                self.backup()
            elif tok.typ != "|":
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            self.error("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == "field":
            pos = self.peek().pos
            names: list[str] = []
            while self.peek().typ == "field":
                names.append(self.next().val[1:])
            if isinstance(node, _Field):
                return _Field(pos, node.names + tuple(names))
            if isinstance(node, _Var):
                return _Var(pos, node.name, node.names + tuple(names))
            if isinstance(node, _Const | _Nil | _Dot):
                self.error(f"unexpected . after term {_go_quote(str(node))}")
            return _Chain(pos, node, tuple(names))
        return node

    def term(self) -> _Node | None:
        tok = self.next_non_space()
        typ = tok.typ
        if typ == "identifier":
            if tok.val not in _FUNCS:
                self.error(f"function {_go_quote(tok.val)} not defined")
            return _Ident(tok.pos, tok.val)
        if typ == "dot":
            return _Dot(tok.pos)
        if typ == "nil":
            return _Nil(tok.pos)
        if typ == "variable":
            if tok.val not in self.vars:
                self.error(f"undefined variable {_go_quote(tok.val)}")
            return _Var(tok.pos, tok.val)
        if typ == "field":
            return _Field(tok.pos, (tok.val[1:],))
        if typ == "bool":
            return _Const(tok.pos, tok.val, tok.val == "true")
        if typ in ("number", "charconst"):
            return self.number(tok)
        if typ == "complex":
            self.error(f"complex constants are not supported: {tok.val}")
        if typ == "(":
            return self.pipeline("parenthesized pipeline", ")")
        if typ in ("string", "rawstring"):
            try:
                value = _unquote(tok.val)
            except ValueError as e:
                self.error(str(e))
            return _Const(tok.pos, tok.val, value)
        self.backup()
        return None

    def number(self, tok: _Tok) -> _Const:
        text = tok.val
        if tok.typ == "charconst":
            try:
                char = _unquote(text)
            except ValueError as e:
                self.error(str(e))
            if len(char) != 1:
                self.error(f"malformed character constant: {text}")
            r = ord(char)
            return _Const(tok.pos, text, r, r, float(r))
        if text.endswith("i"):
            self.error(f"complex constants are not supported: {text}")
        as_int = _parse_int(text)
        as_float: float | None = None
        if as_int is not None:
            as_float = float(as_int)
        else:
            as_float = _parse_float(text)
            if as_float is not None:
                if not any(c in text for c in ".eEpP"):
                    self.error(f"integer overflow: {_go_quote(text)}")
                if abs(as_float) < 2.0**63 and as_float == int(as_float):
                    as_int = int(as_float)
        if as_int is None and as_float is None:
            self.error(f"illegal number syntax: {_go_quote(text)}")
        hex_int = text.lstrip("+-")[:2] in ("0x", "0X") and not any(c in text for c in "pP")
        if as_float is not None and not hex_int and any(c in text for c in ".eEpP"):
            value: Any = as_float
        else:
            value = as_int
        return _Const(tok.pos, text, value, as_int, as_float)


def _parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): 0x, 0o, 0b, a leading 0 for octal, underscores."""
    neg = text.startswith("-")
    body = text[1:] if text[:1] in "+-" else text
    if not body or body[0] in "+-":
        return None
    if len(body) > 1 and body[0] == "0" and body[1] in "01234567_":
        body = "0o" + body[1:]
    try:
        value = int(body, 0)
    except ValueError:
        return None
    value = -value if neg else value
    if not -(1 << 63) <= value < (1 << 64):  # uint64 parses; "overflows int" when used
        return None
    return value


def _parse_float(text: str) -> float | None:
    body = text.replace("_", "")
    neg = body.startswith("-")
    body = body.lstrip("+-")
    try:
        if body[:2] in ("0x", "0X"):
            value = float.fromhex(body)
        else:
            if body.lower() in ("inf", "infinity", "nan") or not body:
                return None
            value = float(body)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return -value if neg else value


_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\",
}


def _unquote(text: str) -> str:
    """Go's strconv.Unquote for "...", `...` and '...'."""
    q = text[0]
    if q == "`":
        return text[1:-1].replace("\r", "")
    body = text[1:-1]
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            if c == q:
                raise ValueError("invalid syntax")
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[e].encode()
        elif e == q:
            out += e.encode()
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i:i + size]
            if len(digits) != size or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("invalid syntax")
            i += size
            v = int(digits, 16)
            if e == "x":
                out.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v < 0xE000:
                    raise ValueError("invalid syntax")
                out += chr(v).encode()
        elif e in "01234567":
            digits = body[i - 1:i + 2]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError("invalid syntax")
            i += 2
            v = int(digits, 8)
            if v > 255:
                raise ValueError("invalid syntax")
            out.append(v)
        else:
            raise ValueError("invalid syntax")
    return out.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Templates


class Template:
    """A parsed template; ``execute`` runs it on data (reentrant, may be shared)."""

    __slots__ = ("name", "text", "root")

    def __init__(self, text: str, name: str = "") -> None:
        self.name = name
        self.text = text
        self.root = _Parser(text, name).parse()

    def execute(self, data: Any) -> str:
        return _Exec(self, None).run(data)

    def _execute_headers(self, headers: _Headers) -> str:
        return _Exec(self, headers).run([headers])


@functools.lru_cache(maxsize=128)
def parse_template(text: str, name: str = "") -> Template:
    """Parse (and cache) a template; raises TemplateError on bad syntax."""
    return Template(text, name)


def render(template: str, data: Any, name: str = "") -> str:
    """Execute a Go template on one value, as Go's Template.Execute does."""
    return parse_template(template, name).execute(data)


class _BreakSignal(Exception):
    pass


class _ContinueSignal(Exception):
    pass


class _Headers:
    """The data a table header is rendered with: every field is its column name."""

    def __init__(self, overrides: Mapping[str, str] | None) -> None:
        self.overrides = {k: v.upper() for k, v in (overrides or {}).items()}

    def header(self, name: str) -> str:
        return self.overrides.get(name) or header_for(name)


class _Heading(str):
    """A column name standing for a field in a header row."""


class _Exec:
    def __init__(self, tmpl: Template, headers: _Headers | None) -> None:
        self.tmpl = tmpl
        self.headers = headers
        self.vars: list[list[Any]] = []
        self.out: list[str] = []

    def run(self, data: Any) -> str:
        self.vars = [["$", data]]
        try:
            self.walk(data, self.tmpl.root)
        except TemplateError:
            raise
        except Exception as e:  # a bug, or a data object whose attribute raised
            raise TemplateError(
                f"template: {self.tmpl.name}: executing {_go_quote(self.tmpl.name)}: {e}"
            ) from e
        return "".join(self.out)

    def error(self, node: _Node, msg: str) -> NoReturn:
        text = self.tmpl.text
        pos = node.pos
        line = text.count("\n", 0, pos) + 1
        col = len(text[text.rfind("\n", 0, pos) + 1:pos].encode("utf-8", "surrogateescape"))
        ctx = str(node)
        name = self.tmpl.name
        raise TemplateError(
            f"template: {name}:{line}:{col}: executing {_go_quote(name)} at <{ctx}>: {msg}"
        )

    # walking

    def walk(self, dot: Any, nodes: list[_Node]) -> None:
        out = self.out
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                val = self.eval_pipeline(dot, node.pipe)
                if not node.pipe.decls:
                    out.append("<no value>" if val is None or val is _MISSING else _fmt_v(val))
            elif isinstance(node, _Branch):
                if node.kind == "range":
                    self.walk_range(dot, node)
                else:
                    self.walk_if_with(dot, node)
            elif isinstance(node, _Break):
                raise _BreakSignal()
            elif isinstance(node, _Continue):
                raise _ContinueSignal()
            else:  # pragma: no cover
                self.error(node, f"unknown node: {node}")

    def walk_if_with(self, dot: Any, node: _Branch) -> None:
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, node.pipe)
            if _truth(val):
                self.walk(val if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: _Branch) -> None:
        mark0 = len(self.vars)
        try:
            pipe = node.pipe
            val = self.eval_pipeline(dot, pipe)
            items: Iterable[tuple[Any, Any]] | None = None
            if val is None or val is _MISSING:
                pass
            elif isinstance(val, _Heading):
                items = [(0, val)]
            elif isinstance(val, list | tuple):
                items = enumerate(val) if val else None
            elif isinstance(val, dict):
                items = [(k, val[k]) for k in sorted(val, key=_key_order)] if val else None
            else:
                self.error(pipe, f"range can't iterate over {_fmt_v(val)}")
            if items is None:
                if node.else_body is not None:
                    self.walk(dot, node.else_body)
                return
            mark = len(self.vars)
            decls = pipe.decls
            try:
                for index, elem in items:
                    if decls:
                        if pipe.is_assign:
                            if len(decls) > 1:
                                self.set_var(pipe, decls[0], index)
                                self.set_var(pipe, decls[1], elem)
                            else:
                                self.set_var(pipe, decls[0], elem)
                        else:
                            self.vars[mark - 1][1] = elem
                            if len(decls) > 1:
                                self.vars[mark - 2][1] = index
                    try:
                        self.walk(elem, node.body)
                    except _ContinueSignal:
                        pass
                    finally:
                        del self.vars[mark:]
            except _BreakSignal:
                pass
        finally:
            del self.vars[mark0:]

    # variables

    def set_var(self, node: _Node, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.error(node, f"undefined variable: {name}")

    def var_value(self, node: _Node, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.error(node, f"undefined variable: {name}")

    # evaluation

    def eval_pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        value = _NOFINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for name in pipe.decls:
            if pipe.is_assign:
                self.set_var(pipe, name, value)
            else:
                self.vars.append([name, value])
        return value

    def eval_command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        t = type(first)
        if t is _Field:
            assert isinstance(first, _Field)
            return self.eval_field_chain(dot, dot, first, first.names, cmd.args, final)
        if t is _Chain:
            assert isinstance(first, _Chain)
            return self.eval_chain(dot, first, cmd.args, final)
        if t is _Ident:
            assert isinstance(first, _Ident)
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if t is _Pipe:
            assert isinstance(first, _Pipe)
            self.not_a_function(first, cmd.args, final)
            return self.eval_pipeline(dot, first)
        if t is _Var:
            assert isinstance(first, _Var)
            return self.eval_variable(dot, first, cmd.args, final)
        self.not_a_function(first, cmd.args, final)
        if t is _Dot:
            return dot
        if t is _Nil:
            self.error(first, "nil is not a command")
        assert isinstance(first, _Const)
        return self.constant(first)

    def constant(self, node: _Const) -> Any:
        value = node.value
        if type(value) is int and value >= 1 << 63:
            self.error(node, f"{node.text} overflows int")
        return value

    def not_a_function(self, node: _Node, args: list[_Node] | None, final: Any) -> None:
        if (args is not None and len(args) > 1) or final is not _NOFINAL:
            self.error(node, f"can't give argument to non-function {node}")

    def eval_variable(self, dot: Any, var: _Var, args: list[_Node] | None, final: Any) -> Any:
        value = self.var_value(var, var.name)
        if not var.names:
            self.not_a_function(var, args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.names, args, final)

    def eval_chain(self, dot: Any, chain: _Chain, args: list[_Node] | None, final: Any) -> Any:
        if isinstance(chain.node, _Nil):
            self.error(chain, f"indirection through explicit nil in {chain}")
        value = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, value, chain, chain.names, args, final)

    def eval_field_chain(self, dot: Any, receiver: Any, node: _Node, names: tuple[str, ...],
                         args: list[_Node] | None, final: Any) -> Any:
        for name in names[:-1]:
            receiver = self.eval_field(name, node, None, _NOFINAL, receiver)
        return self.eval_field(names[-1], node, args, final, receiver)

    def eval_field(self, name: str, node: _Node, args: list[_Node] | None, final: Any,
                   receiver: Any) -> Any:
        if receiver is _MISSING:
            return _MISSING
        if receiver is None:
            self.error(node, f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _NOFINAL
        if self.headers is not None and isinstance(receiver, _Headers | _Heading):
            return _Heading(self.headers.header(name))
        if isinstance(receiver, dict):
            is_map = isinstance(receiver, GoMap)
            if has_args:
                self.error(node, f"{name} is not a method but has arguments" if is_map
                           else f"{name} has arguments but cannot be invoked as function")
            try:
                value = receiver[name]
            except KeyError:
                if is_map:
                    return _MISSING
                self.error(node, f"can't evaluate field {name} in type struct")
            if name in MAP_FIELDS and type(value) is dict:
                value = GoMap(value)
            return value
        if not isinstance(receiver, str | int | float | list | tuple) \
                and not name.startswith("_"):
            try:
                value = getattr(receiver, name)
            except AttributeError:
                pass
            else:
                if inspect.ismethod(value) or inspect.isbuiltin(value):
                    self.error(node, f"{name} is a method of type {_go_type(receiver)}: "
                                     "method calls are not supported")
                if has_args:
                    self.error(node, f"{name} has arguments but cannot be invoked as function")
                if name in MAP_FIELDS and type(value) is dict:
                    value = GoMap(value)
                return value
        self.error(node, f"can't evaluate field {name} in type {_go_type(receiver)}")

    def eval_function(self, dot: Any, ident: _Ident, cmd: _Node,
                      args: list[_Node] | None, final: Any) -> Any:
        name = ident.name
        fn = _FUNCS[name]
        argnodes = args[1:] if args else []
        num_in = len(argnodes) + (0 if final is _NOFINAL else 1)
        fixed = fn.params
        if fn.variadic is not None:
            if num_in < len(fixed):
                self.error(ident, f"wrong number of args for {name}: "
                                  f"want at least {len(fixed)} got {len(argnodes)}")
        elif num_in != len(fixed):
            self.error(ident, f"wrong number of args for {name}: want {len(fixed)} got {num_in}")
        if name in ("and", "or"):
            v: Any = None
            for a in argnodes:
                v = self.eval_arg(dot, "any", a)
                if _truth(v) == (name == "or"):
                    return v
            if final is not _NOFINAL:
                v = self.validate(cmd, final, "any")
            return v
        vals: list[Any] = []
        for k, a in enumerate(argnodes):
            kind = fixed[k] if k < len(fixed) else fn.variadic
            vals.append(self.eval_arg(dot, kind, a))
        if final is not _NOFINAL:
            k = num_in - 1
            kind = fixed[k] if k < len(fixed) else fn.variadic
            vals.append(self.validate(cmd, final, kind))
        try:
            return fn.impl(*vals)
        except _FuncError as e:
            self.error(cmd, f"error calling {name}: {e}")
        except TemplateError:
            raise
        except Exception as e:
            self.error(cmd, f"error calling {name}: {e}")

    def eval_arg(self, dot: Any, kind: str | None, node: _Node) -> Any:
        t = type(node)
        if t is _Dot:
            return self.validate(node, dot, kind)
        if t is _Nil:
            if kind in (None, "any"):
                return None
            self.error(node, f"cannot assign nil to {_KIND_NAMES[kind]}")
        if t is _Field:
            assert isinstance(node, _Field)
            value = self.eval_field_chain(dot, dot, node, node.names, [node], _NOFINAL)
            return self.validate(node, value, kind)
        if t is _Var:
            assert isinstance(node, _Var)
            return self.validate(node, self.eval_variable(dot, node, None, _NOFINAL), kind)
        if t is _Pipe:
            assert isinstance(node, _Pipe)
            return self.validate(node, self.eval_pipeline(dot, node), kind)
        if t is _Ident:
            assert isinstance(node, _Ident)
            return self.validate(node, self.eval_function(dot, node, node, None, _NOFINAL), kind)
        if t is _Chain:
            assert isinstance(node, _Chain)
            return self.validate(node, self.eval_chain(dot, node, None, _NOFINAL), kind)
        assert isinstance(node, _Const)
        if kind in (None, "any"):
            return self.constant(node)
        if kind == "str":
            if node.text[:1] in ('"', "`"):
                return node.value
            self.error(node, f"expected string; found {node}")
        if kind == "int":
            if node.as_int is not None and node.text[:1] not in ('"', "`") \
                    and node.text not in ("true", "false"):
                if node.as_int >= 1 << 63:
                    self.error(node, f"{node.text} overflows int")
                return node.as_int
            self.error(node, f"expected integer; found {node}")
        self.error(node, f"can't handle {node} for arg of type {_KIND_NAMES[kind]}")

    def validate(self, node: _Node, value: Any, kind: str | None) -> Any:
        if kind is None:
            return value
        if value is _MISSING or value is None:
            if kind == "any":
                return None
            self.error(node, f"invalid value; expected {_KIND_NAMES[kind]}")
        if kind == "any":
            return value
        if kind == "str":
            if isinstance(value, str):
                return value
        elif kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind == "strlist":
            if isinstance(value, _Heading):
                return [value]
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return value
        self.error(node, f"wrong type for value; expected {_KIND_NAMES[kind]}; "
                         f"got {_go_type(value)}")


_KIND_NAMES = {"str": "string", "int": "int", "strlist": "[]string", "any": "interface {}"}


# ---------------------------------------------------------------------------
# Values


def _truth(v: Any) -> bool:
    if v is None or v is _MISSING:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float | complex):
        return v != 0
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0
    return True


def _key_order(k: Any) -> tuple[int, Any, str]:
    if isinstance(k, bool):
        return (0, int(k), "")
    if isinstance(k, int | float):
        return (1, k, "")
    if isinstance(k, str):
        return (2, 0, k)
    return (3, 0, str(k))


def _elem_type(values: Iterable[Any]) -> str:
    types = {_go_type(v) for v in values}
    if len(types) == 1:
        (only,) = types
        if only in ("string", "int", "float64", "bool"):
            return only
    return "interface {}"


def _go_type(v: Any) -> str:
    """The Go type name of a value (for %T and messages)."""
    if v is None or v is _MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "[]" + _elem_type(v)
    if isinstance(v, dict):
        return "map[string]" + _elem_type(v.values())
    return type(v).__name__


# ---------------------------------------------------------------------------
# fmt


class _Flags:
    __slots__ = ("plus", "minus", "sharp", "space", "zero", "wid", "prec", "plus_v", "sharp_v")

    def __init__(self) -> None:
        self.plus = self.minus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.wid: int | None = None
        self.prec: int | None = None


_PLAIN = _Flags()


def _pad(s: str, f: _Flags) -> str:
    if f.wid is None or f.wid <= len(s):
        return s
    fill = (f.wid - len(s)) * ("0" if f.zero else " ")
    return s + fill if f.minus else fill + s


def _pad_spaces(s: str, f: _Flags) -> str:
    if f.wid is None or f.wid <= len(s):
        return s
    fill = (f.wid - len(s)) * " "
    return s + fill if f.minus else fill + s


def _bad_verb(verb: str, arg: Any) -> str:
    if arg is None or arg is _MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_go_type(arg)}={_fmt_arg(arg, 'v', _PLAIN)})"


def _fmt_v(v: Any) -> str:
    return _fmt_arg(v, "v", _PLAIN)


def _fmt_arg(arg: Any, verb: str, f: _Flags) -> str:
    if arg is None or arg is _MISSING:
        if verb in "Tv":
            return _pad("<nil>", f)
        return _bad_verb(verb, None)
    if verb == "T":
        return _pad(_go_type(arg), f)
    if isinstance(arg, bool):
        if verb in "tv":
            return _pad("true" if arg else "false", f)
        return _bad_verb(verb, arg)
    if isinstance(arg, int):
        return _fmt_int(arg, verb, f)
    if isinstance(arg, float):
        return _fmt_float(arg, verb, f)
    if isinstance(arg, str):
        return _fmt_str(arg, verb, f)
    if isinstance(arg, list | tuple):
        if f.sharp_v:
            return _go_type(arg) + "{" + ", ".join(_fmt_arg(e, verb, f) for e in arg) + "}"
        return "[" + " ".join(_fmt_arg(e, verb, f) for e in arg) + "]"
    if isinstance(arg, dict):
        keys = sorted(arg, key=_key_order)
        if f.sharp_v:
            return _go_type(arg) + "{" + ", ".join(
                f"{_fmt_arg(k, verb, f)}:{_fmt_arg(arg[k], verb, f)}" for k in keys) + "}"
        return "map[" + " ".join(
            f"{_fmt_arg(k, verb, f)}:{_fmt_arg(arg[k], verb, f)}" for k in keys) + "]"
    if dataclasses.is_dataclass(arg) and not isinstance(arg, type):
        parts = []
        for fld in dataclasses.fields(arg):
            value = _fmt_arg(getattr(arg, fld.name), verb, f)
            parts.append(f"{fld.name}:{value}" if f.plus_v or f.sharp_v else value)
        return "{" + (", " if f.sharp_v else " ").join(parts) + "}"
    if isinstance(arg, complex):
        return _bad_verb(verb, str(arg))
    return _fmt_str(str(arg), verb if verb in "vsqxX" else "v", f)


def _fmt_str(s: str, verb: str, f: _Flags) -> str:
    if verb in "vs":
        if f.sharp_v:
            return _pad(_go_quote(s), f)
        if f.prec is not None:
            s = s[:f.prec]
        return _pad(s, f)
    if verb == "q":
        if f.prec is not None:
            s = s[:f.prec]
        if f.sharp and _can_backquote(s):
            return _pad("`" + s + "`", f)
        return _pad(_go_quote(s, ascii_only=f.plus), f)
    if verb in "xX":
        data = s.encode("utf-8", "surrogateescape")
        if f.prec is not None:
            data = data[:f.prec]
        if not data:
            return _pad("", f)
        digits = data.hex() if verb == "x" else data.hex().upper()
        pairs = [digits[k:k + 2] for k in range(0, len(digits), 2)]
        prefix = "0" + verb if f.sharp else ""
        text = (" ".join(prefix + p for p in pairs)) if f.space else prefix + "".join(pairs)
        return _pad(text, f)
    return _bad_verb(verb, s)


def _fmt_int(v: int, verb: str, f: _Flags) -> str:
    if verb in "vd":
        return _fmt_integer(v, 10, verb, f, "0123456789abcdefx")
    if verb == "b":
        return _fmt_integer(v, 2, verb, f, "0123456789abcdefx")
    if verb in "oO":
        return _fmt_integer(v, 8, verb, f, "0123456789abcdefx")
    if verb == "x":
        return _fmt_integer(v, 16, verb, f, "0123456789abcdefx")
    if verb == "X":
        return _fmt_integer(v, 16, verb, f, "0123456789ABCDEFX")
    if verb == "c":
        return _pad(_rune(v), f)
    if verb == "q":
        r = _rune(v)
        if f.sharp and _can_backquote(r):
            return _pad("`" + r + "`", f)
        return _pad(_go_quote(r, quote="'", ascii_only=f.plus), f)
    if verb == "U":
        text = f"U+{v:04X}" if v >= 0 else f"U+{v & 0xFFFFFFFFFFFFFFFF:04X}"
        if f.sharp and 0 <= v <= 0x10FFFF and _isprint(chr(v)):
            text += f" '{chr(v)}'"
        return _pad(text, f)
    return _bad_verb(verb, v)


def _rune(v: int) -> str:
    if 0 <= v <= 0x10FFFF and not 0xD800 <= v < 0xE000:
        return chr(v)
    return "\ufffd"


def _fmt_integer(v: int, base: int, verb: str, f: _Flags, digits: str) -> str:
    negative = v < 0
    u = -v if negative else v
    prec = 0
    if f.prec is not None:
        prec = f.prec
        if prec == 0 and u == 0:
            return _pad_spaces("", f)
    elif f.zero and f.wid is not None and not f.minus:
        prec = f.wid
        if negative or f.plus or f.space:
            prec -= 1
    if u == 0:
        body = "0"
    else:
        chars = []
        while u:
            u, r = divmod(u, base)
            chars.append(digits[r])
        body = "".join(reversed(chars))
    if len(body) < prec:
        body = "0" * (prec - len(body)) + body
    if f.sharp:
        if base == 2:
            body = "0b" + body
        elif base == 8 and not body.startswith("0"):
            body = "0" + body
        elif base == 16:
            body = "0" + digits[16] + body
    if verb == "O":
        body = "0o" + body
    if negative:
        body = "-" + body
    elif f.plus:
        body = "+" + body
    elif f.space:
        body = " " + body
    return _pad_spaces(body, f)


def _fmt_float(v: float, verb: str, f: _Flags) -> str:
    if verb == "v":
        verb, prec = "g", -1
    elif verb in "bgGxX":
        prec = -1
    elif verb in "efEF":
        prec = 6
    else:
        return _bad_verb(verb, v)
    if f.prec is not None:
        prec = f.prec
    num = _ftoa(v, verb, prec, f.sharp)
    if num[0] not in "+-":
        num = "+" + num
    if f.space and num[0] == "+" and not f.plus:
        num = " " + num[1:]
    if num[1] in "IN":  # Inf, NaN: never zero padded
        if num[1] == "N" and not f.space and not f.plus:
            num = num[1:]
        return _pad_spaces(num, f)
    if f.plus or num[0] != "+":
        if f.zero and f.wid is not None and f.wid > len(num) and not f.minus:
            return num[0] + "0" * (f.wid - len(num)) + num[1:]
        return _pad(num, f)
    return _pad(num[1:], f)


def _shortest(v: float) -> tuple[str, int]:
    """Shortest decimal digits of v > 0 and the decimal point position (0.DIGITS x 10^dp)."""
    _, digit_tuple, exp = Decimal(repr(v)).as_tuple()
    digits = "".join(map(str, digit_tuple))
    assert isinstance(exp, int)
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    digits = stripped.lstrip("0") or "0"
    return digits, len(digits) + exp


def _fmt_e(digits: str, dp: int, prec: int, e: str) -> str:
    first = digits[0] if digits else "0"
    s = first
    if prec > 0:
        s += "." + digits[1:prec + 1].ljust(prec, "0")
    exp = dp - 1 if digits and digits != "0" else 0
    sign = "-" if exp < 0 else "+"
    return f"{s}{e}{sign}{abs(exp):02d}"


def _fmt_f(digits: str, dp: int, prec: int) -> str:
    nd = len(digits)
    s = digits[:dp].ljust(dp, "0") if dp > 0 else "0"
    if prec > 0:
        frac = "".join(digits[dp + k] if 0 <= dp + k < nd else "0" for k in range(prec))
        s += "." + frac
    return s


def _ftoa(v: float, verb: str, prec: int, sharp: bool = False) -> str:
    """strconv.FormatFloat(v, verb, prec, 64), with fmt's # flag for e, f and g."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if verb == "b":
        m, e = math.frexp(abs(v))
        mant, exp = (int(m * (1 << 53)), e - 53) if v else (0, -1074)
        return ("-" if math.copysign(1, v) < 0 else "") + f"{mant}p{exp:+d}"
    if verb in "xX":
        return _hex_float(v, verb)
    if prec >= 0:
        spec = ("#" if sharp else "") + f".{prec}" + ("f" if verb == "F" else verb)
        return format(v, spec)
    neg = math.copysign(1, v) < 0
    sign = "-" if neg else ""
    if v == 0:
        digits, dp = "0", 1
        nd = 0
    else:
        digits, dp = _shortest(abs(v))
        nd = len(digits)
    if verb in "eE":
        return sign + _fmt_e(digits, dp, max(nd - 1, 0), verb)
    if verb in "fF":
        return sign + _fmt_f(digits, dp, max(nd - dp, 0))
    # g, G: the shortest representation, %e when the exponent is < -4 or >= 6
    if v == 0:
        return sign + "0"
    exp = dp - 1
    if sharp:
        return format(v, "#g" if verb == "g" else "#G")
    if exp < -4 or exp >= 6:
        return sign + _fmt_e(digits, dp, nd - 1, "e" if verb == "g" else "E")
    return sign + _fmt_f(digits, dp, max(nd - dp, 0))


def _hex_float(v: float, verb: str) -> str:
    text = float.hex(v)  # e.g. '-0x1.8000000000000p+3'
    neg = text.startswith("-")
    mant, _, exp = text.lstrip("-").partition("p")
    head, _, frac = mant[2:].partition(".")
    frac = frac.rstrip("0")
    e = int(exp)
    if head == "0" and not frac:
        e = 0
    s = "0x" + head + ("." + frac if frac else "") + "p" + ("-" if e < 0 else "+") + f"{abs(e):02d}"
    if verb == "X":
        s = s.upper()
    return ("-" if neg else "") + s


def _isprint(c: str) -> bool:
    return c == " " or (c.isprintable() and c != "\u00a0")


def _go_quote(s: str, quote: str = '"', ascii_only: bool = False) -> str:
    """strconv.Quote (and QuoteToASCII, QuoteRune)."""
    out = [quote]
    for c in s:
        o = ord(c)
        if c == quote or c == "\\":
            out.append("\\" + c)
        elif (o < 0x80 or not ascii_only) and _isprint(c):
            out.append(c)
        elif c in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(c)])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xD800 <= o < 0xE000:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append(quote)
    return "".join(out)


def _can_backquote(s: str) -> bool:
    for c in s:
        if c == "\ufeff" or (c < " " and c != "\t") or c in "`\x7f" or 0xD800 <= ord(c) < 0xE000:
            return False
    return True


def _arg_index(fmt: str, i: int, argnum: int, nargs: int) -> tuple[int, int, bool, bool]:
    """Parse an optional [n] at fmt[i]: (argnum, i, ok, found)."""
    if i >= len(fmt) or fmt[i] != "[":
        return argnum, i, True, False
    end = fmt.find("]", i)
    if end < 0:
        return argnum, i + 1, False, True
    try:
        index = int(fmt[i + 1:end])
    except ValueError:
        return argnum, end + 1, False, True
    if not 1 <= index <= nargs:
        return argnum, end + 1, False, True
    return index - 1, end + 1, True, True


def _sprintf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf."""
    out: list[str] = []
    argnum = 0
    reordered = False
    i = 0
    n = len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        f = _Flags()
        while i < n:
            c = fmt[i]
            if c == "#":
                f.sharp = True
            elif c == "0":
                f.zero = not f.minus
            elif c == "+":
                f.plus = True
            elif c == "-":
                f.minus = True
                f.zero = False
            elif c == " ":
                f.space = True
            else:
                break
            i += 1
        good = True
        argnum, i, ok, found = _arg_index(fmt, i, argnum, len(args))
        reordered = reordered or found
        good = good and ok
        if i < n and fmt[i] == "*":
            i += 1
            if argnum < len(args) and isinstance(args[argnum], int) \
                    and not isinstance(args[argnum], bool):
                f.wid = args[argnum]
                if f.wid < 0:
                    f.minus, f.zero, f.wid = True, False, -f.wid
            else:
                out.append("%!(BADWIDTH)")
            if argnum < len(args):
                argnum += 1
        else:
            start = i
            while i < n and "0" <= fmt[i] <= "9":
                i += 1
            if i > start:
                f.wid = int(fmt[start:i])
                if found:
                    good = False  # "%[3]2d" is bad
        if i < n and fmt[i] == ".":
            i += 1
            if found:
                good = False
            argnum, i, ok, found = _arg_index(fmt, i, argnum, len(args))
            reordered = reordered or found
            good = good and ok
            if i < n and fmt[i] == "*":
                i += 1
                if argnum < len(args) and isinstance(args[argnum], int) \
                        and not isinstance(args[argnum], bool):
                    f.prec = args[argnum] if args[argnum] >= 0 else None
                else:
                    out.append("%!(BADPREC)")
                if argnum < len(args):
                    argnum += 1
            else:
                start = i
                while i < n and "0" <= fmt[i] <= "9":
                    i += 1
                f.prec = int(fmt[start:i]) if i > start else 0
        if not found:
            argnum, i, ok, found = _arg_index(fmt, i, argnum, len(args))
            reordered = reordered or found
            good = good and ok
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
        elif not good:
            out.append(f"%!{verb}(BADINDEX)")
        elif argnum >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                if f.sharp:
                    f.sharp, f.sharp_v = False, True
                if f.plus:
                    f.plus, f.plus_v = False, True
            out.append(_fmt_arg(args[argnum], verb, f))
            argnum += 1
    if not reordered and argnum < len(args):
        extra = ", ".join("<nil>" if a is None else f"{_go_type(a)}={_fmt_v(a)}"
                          for a in args[argnum:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _sprint(*args: Any) -> str:
    parts: list[str] = []
    prev_string = False
    for k, a in enumerate(args):
        is_string = isinstance(a, str)
        if k > 0 and not is_string and not prev_string:
            parts.append(" ")
        parts.append(_fmt_v(a))
        prev_string = is_string
    return "".join(parts)


def _sprintln(*args: Any) -> str:
    return " ".join(_fmt_v(a) for a in args) + "\n"


# ---------------------------------------------------------------------------
# JSON, as Go's encoding/json (compact, HTML not escaped)


def _json_str(s: str) -> str:
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, f"\\u{o:04x}"))
        elif c in "\u2028\u2029":
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o < 0xE000:
            out.append("\ufffd")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _json_float(v: float) -> str:
    if not math.isfinite(v):
        raise _FuncError(f"json: unsupported value: {_ftoa(v, 'g', -1)}")
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    a = abs(v)
    sign = "-" if v < 0 else ""
    digits, dp = _shortest(a)
    if a < 1e-6 or a >= 1e21:
        s = _fmt_e(digits, dp, len(digits) - 1, "e")
        mant, _, exp = s.partition("e")
        if exp.startswith("-0"):
            exp = "-" + exp[2:]
        return sign + mant + "e" + exp
    return sign + _fmt_f(digits, dp, max(len(digits) - dp, 0))


def _json(v: Any, is_map: bool = False) -> str:
    if v is None or v is _MISSING:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_str(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(_json(e) for e in v) + "]"
    if isinstance(v, dict):
        keys: Iterable[Any] = v
        if is_map or isinstance(v, GoMap):
            keys = sorted(v, key=str)
        return "{" + ",".join(
            _json_str(str(k)) + ":" + _json(v[k], k in MAP_FIELDS) for k in keys) + "}"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return "{" + ",".join(
            _json_str(fld.name) + ":" + _json(getattr(v, fld.name), fld.name in MAP_FIELDS)
            for fld in dataclasses.fields(v)) + "}"
    return _json_str(str(v))


def _json_func(v: Any) -> str:
    try:
        return _json(v)
    except _FuncError:
        return ""  # podman ignores the encoder's error


# ---------------------------------------------------------------------------
# Functions


class _Func:
    __slots__ = ("params", "variadic", "impl")

    def __init__(self, params: tuple[str, ...], variadic: str | None,
                 impl: Callable[..., Any]) -> None:
        self.params = params
        self.variadic = variadic
        self.impl = impl


def _basic_kind(v: Any) -> str:
    if v is None or v is _MISSING:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    return "other"


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise _FuncError("missing argument for comparison")
    k1 = _basic_kind(a)
    for b in others:
        k2 = _basic_kind(b)
        if k1 != k2:
            if k1 != "invalid" and k2 != "invalid":
                raise _FuncError("incompatible types for comparison")
            truth = False
        elif k1 == "invalid":
            truth = True
        elif k1 == "other":
            for x in (a, b):
                if isinstance(x, list | dict):
                    raise _FuncError(f"non-comparable type {_fmt_v(x)}: {_go_type(x)}")
            truth = bool(a == b)
        else:
            truth = a == b
        if truth:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    k1, k2 = _basic_kind(a), _basic_kind(b)
    if k1 in ("invalid", "other") or k2 in ("invalid", "other"):
        raise _FuncError("invalid type for comparison")
    if k1 != k2:
        raise _FuncError("incompatible types for comparison")
    if k1 in ("bool", "complex"):
        raise _FuncError("invalid type for comparison")
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


def _length(v: Any) -> int:
    if v is None:
        raise _FuncError("len of nil pointer")
    if isinstance(v, str) and not isinstance(v, _Heading):
        return len(v.encode("utf-8", "surrogateescape"))
    if isinstance(v, str | list | tuple | dict):
        return len(v)
    raise _FuncError(f"len of type {_go_type(v)}")


def _index_arg(ix: Any, cap: int) -> int:
    if ix is None:
        raise _FuncError("cannot index slice/array with nil")
    if not isinstance(ix, int) or isinstance(ix, bool):
        raise _FuncError(f"cannot index slice/array with type {_go_type(ix)}")
    if ix < 0 or ix > cap:
        raise _FuncError(f"index out of range: {ix}")
    return ix


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise _FuncError("index of untyped nil")
    for ix in indexes:
        if item is None:
            raise _FuncError("index of nil pointer")
        if isinstance(item, _Heading):
            if isinstance(ix, str):
                item = _Heading(header_for(ix))
            continue
        if isinstance(item, list | tuple | str):
            seq: Any = item.encode("utf-8", "surrogateescape") if isinstance(item, str) else item
            x = _index_arg(ix, len(seq))
            if x >= len(seq):
                raise _FuncError(f"index out of range: {x}")
            item = seq[x]
        elif isinstance(item, dict):
            if ix is None:
                raise _FuncError("value is nil; should be of type string")
            key_type = _go_type(next(iter(item))) if item else "string"
            if _go_type(ix) != key_type:
                raise _FuncError(f"value has type {_go_type(ix)}; should be {key_type}")
            if ix in item:
                value = item[ix]
                if ix in MAP_FIELDS and type(value) is dict:
                    value = GoMap(value)
                item = value
            else:  # the zero value of the map's element type
                item = "" if all(isinstance(e, str) for e in item.values()) else None
        else:
            raise _FuncError(f"can't index item of type {_go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise _FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise _FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _FuncError("cannot 3-index slice a string")
        seq: Any = item.encode("utf-8", "surrogateescape")
    elif isinstance(item, list | tuple):
        seq = item
    else:
        raise _FuncError(f"can't slice item of type {_go_type(item)}")
    idx = [0, len(seq), len(seq)]
    for k, ix in enumerate(indexes):
        idx[k] = _index_arg(ix, len(seq))
    if idx[0] > idx[1]:
        raise _FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise _FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = seq[idx[0]:idx[1]]
    if isinstance(item, str):
        return part.decode("utf-8", "replace")
    return list(part) if isinstance(item, list) else part


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return _sprint(*("<no value>" if a is None else a for a in args))


def _html(*args: Any) -> str:
    s = _eval_args(args)
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;").replace("\x00", "\ufffd"))


_JS_ESCAPES = {
    "\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
    "=": "\\u003D",
}


def _js(*args: Any) -> str:
    out = []
    for c in _eval_args(args):
        if c in _JS_ESCAPES:
            out.append(_JS_ESCAPES[c])
        elif c < " " or (c >= "\x80" and not _isprint(c)):
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _call(fn: Any, *args: Any) -> Any:
    if fn is None:
        raise _FuncError("call of nil")
    if not callable(fn):
        raise _FuncError(f"non-function of type {_go_type(fn)}")
    return fn(*args)


def _go_upper(s: str) -> str:
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in s)


def _go_lower(s: str) -> str:
    # Go maps rune by rune; the only multi-rune full lowercase (U+0130) maps to "i".
    return "".join(c.lower()[0] for c in s)


def _is_separator(c: str) -> bool:
    if c <= "\x7f":
        return not (c.isascii() and (c.isalnum() or c == "_"))
    if c.isalpha() or c.isdecimal():
        return False
    return c.isspace()


def _title(s: str) -> str:
    """strings.Title: upper-case the first letter of each word."""
    out = []
    prev = " "
    for c in s:
        if _is_separator(prev):
            t = c.title()
            out.append(t if len(t) == 1 else c)
        else:
            out.append(c)
        prev = c
    return "".join(out)


def _join(items: list[str], sep: str) -> str:
    return sep.join(items)


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _pad_with_space(s: str, prefix: int, suffix: int) -> str:
    if s == "":
        return s
    if prefix < 0 or suffix < 0:
        raise _FuncError("strings: negative Repeat count")
    return " " * prefix + s + " " * suffix


def _truncate(s: str, length: int) -> str:
    if len(s) < length:
        return s
    if length < 0:
        raise _FuncError(f"runtime error: slice bounds out of range [:{length}]")
    return s[:length]


_ANY = "any"
_FUNCS: dict[str, _Func] = {
    # Go's text/template builtins
    "and": _Func((_ANY,), _ANY, lambda *a: a[-1]),  # evaluated lazily by the executor
    "or": _Func((_ANY,), _ANY, lambda *a: a[-1]),
    "not": _Func((_ANY,), None, lambda a: not _truth(a)),
    "len": _Func((_ANY,), None, _length),
    "index": _Func((_ANY,), _ANY, _index),
    "slice": _Func((_ANY,), _ANY, _slice),
    "print": _Func((), _ANY, _sprint),
    "printf": _Func(("str",), _ANY, _sprintf),
    "println": _Func((), _ANY, _sprintln),
    "eq": _Func((_ANY,), _ANY, _eq),
    "ne": _Func((_ANY, _ANY), None, lambda a, b: not _eq(a, b)),
    "lt": _Func((_ANY, _ANY), None, _lt),
    "le": _Func((_ANY, _ANY), None, _le),
    "gt": _Func((_ANY, _ANY), None, lambda a, b: not _le(a, b)),
    "ge": _Func((_ANY, _ANY), None, lambda a, b: not _lt(a, b)),
    "html": _Func((), _ANY, _html),
    "js": _Func((), _ANY, _js),
    "urlquery": _Func((), _ANY, _urlquery),
    "call": _Func((_ANY,), _ANY, _call),
    # podman's (containers/common pkg/report)
    "join": _Func(("strlist", "str"), None, _join),
    "json": _Func((_ANY,), None, _json_func),
    "lower": _Func(("str",), None, _go_lower),
    "pad": _Func(("str", "int", "int"), None, _pad_with_space),
    "split": _Func(("str", "str"), None, _split),
    "title": _Func(("str",), None, _title),
    "truncate": _Func(("str", "int"), None, _truncate),
    "upper": _Func(("str",), None, _go_upper),
}


# ---------------------------------------------------------------------------
# podman's report package: table, headers, normalization, tabwriter


def _camel_split(src: str) -> list[str]:
    """containers/common's camelcase.Split: "PDFLoader" -> ["PDF", "Loader"]."""
    runs: list[list[str]] = []
    last = 0
    for c in src:
        cls = 1 if c.islower() else 2 if c.isupper() else 3 if c.isdecimal() else 4
        if runs and cls == last:
            runs[-1].append(c)
        else:
            runs.append([c])
        last = cls
    for k in range(len(runs) - 1):
        if runs[k] and runs[k][0].isupper() and runs[k + 1][0].islower():
            runs[k + 1].insert(0, runs[k].pop())
    return ["".join(r) for r in runs if r]


def header_for(field: str) -> str:
    """A table column's header, as podman derives it: "CreatedAt" -> "CREATED AT"."""
    return _go_upper(" ".join(_camel_split(field)))


_TABLE_REPLACE = re.compile(r"table |\\t| |\\n")
_ESCAPE_REPLACE = re.compile(r"\\[tn]")
_REPLACEMENTS = {"table ": "", "\\t": "\t", " ": "\t", "\\n": "\n"}
_RANGE_RE = re.compile(r"(?s){{\s*range\s*\.\s*}}.*{{\s*end\s*-?\s*}}")
_JSON_RE = re.compile(r"^\s*(json|{{\s*json\s*(\.)?\s*}})\s*$")


def normalize_format(fmt: str) -> str:
    """podman's NormalizeFormat: literal \\t and \\n escapes, a "table " template's
    spaces become tabs, and the result ends with a newline."""
    if fmt.startswith("table "):
        out = _TABLE_REPLACE.sub(lambda m: _REPLACEMENTS[m.group()], fmt)
    else:
        out = _ESCAPE_REPLACE.sub(lambda m: _REPLACEMENTS[m.group()], fmt)
    if not out.endswith("\n"):
        out += "\n"
    return out


def has_table(fmt: str) -> bool:
    """Whether a --format asks for a table (podman's report.HasTable)."""
    return fmt.startswith("table ")


def is_json(fmt: str) -> bool:
    """Whether a --format asks for plain JSON ("json" or "{{json .}}")."""
    return _JSON_RE.match(fmt) is not None


def _parse_user_format(template: str, name: str) -> tuple[Template, bool]:
    """Parse a --format as podman does: normalized and wrapped in {{range .}} (unless it
    has its own), or as given if that does not parse ('{{printf "\\n"}}' must keep
    working). Returns the template and whether it ranges over the rows itself."""
    table = has_table(template)
    try:
        text = normalize_format(template)
        ranges = not table and _RANGE_RE.search(text) is not None
        wrapped = text if ranges else "{{range .}}" + text + "{{end -}}"
        return parse_template(wrapped, name), ranges
    except TemplateError:
        ranges = not table and _RANGE_RE.search(template) is not None
        wrapped = template if ranges else "{{range .}}" + template + "{{end -}}"
        return parse_template(wrapped, name), ranges


def render_rows(template: str, rows: Iterable[Any], heading: bool = True, name: str = "",
                headers: Mapping[str, str] | None = None) -> str:
    """Render rows with a user's --format as podman does (see the module docstring).

    The template is executed on the list of rows, wrapped in ``{{range .}}`` as
    podman wraps it (so ``$`` is the list, error columns are podman's), unless it
    has its own ``{{range .}}...{{end}}``. A "table " template gets a header line
    (unless ``heading`` is false) and aligned columns.
    """
    rows = list(rows)
    tmpl, _ = _parse_user_format(template, name)
    if has_table(template):
        parts = []
        if heading:
            parts.append(tmpl._execute_headers(_Headers(headers)))
        parts.append(tmpl.execute(rows))
        return tabwrite("".join(parts))
    return tmpl.execute(rows)
