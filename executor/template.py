"""The Go-template subset yip configs use, parsed and rendered natively.

yip renders commands, file content, entities and environment values with Go's
text/template plus sprig; Kairos configs use a small part of it: field
lookups (`.Values.node.hostname`, `.MachineID`), literals, pipelines and the
functions trunc, lower, upper, default, replace, trim and quote. That part is
implemented here with Go's argument order (`trunc 4 .X`, `.X | trunc 4`,
`replace "a" "b" .X`, `default "x" .Y`).

Anything else (`if`, `range`, variables, other functions, ...) is a
TemplateError naming the construct and its position, never silently passed
through as yip does. A value that is missing from the data is an error when
it is printed (Go prints `<no value>`), but `default` may replace it.

`syntax_error(text)` says what Go's own parser rejects (as yip would: the
lexer here reads every token of Go's action syntax, so `validate` needs no
scanner of its own), `parse(text)` also refuses what is outside the subset,
and `render(text, data)` parses and evaluates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from executor.errors import ExecutorError
from executor.record import dataclass

LEFT, RIGHT = "{{", "}}"
SUPPORTED = (
    "field lookups, literals, pipelines and trunc, lower, upper, default, replace, trim, quote"
)
KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)
_SPACE = " \t\r\n"


class TemplateError(ExecutorError):
    """A template that is malformed, unsupported or cannot be evaluated.

    `offset` is the character offset in the template text; `line` and
    `column` (1-based) are the same position, for messages and validation.
    """

    def __init__(self, message: str, text: str = "", offset: int = 0) -> None:
        self.message = message
        self.offset = offset
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        super().__init__(f"template {self.line}:{self.column}: {message}")


class _Missing:
    """A value the data does not have (Go's zero reflect.Value)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


# -- syntax tree -------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    names: tuple[str, ...]  # () is the dot itself
    pos: int

    def shown(self) -> str:
        return "." + ".".join(self.names) if self.names else "."


@dataclass(frozen=True)
class Literal:
    value: object
    pos: int


@dataclass(frozen=True)
class Func:
    name: str
    pos: int


@dataclass(frozen=True)
class Command:
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    pos: int


Node = Field | Literal | Func | Pipeline


@dataclass(frozen=True)
class Action:
    pipeline: Pipeline
    pos: int


@dataclass(frozen=True)
class Template:
    text: str
    parts: tuple[str | Action, ...]

    def render(self, data: Mapping[str, object]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                value = _Evaluator(self.text, data).pipeline(part.pipeline)
                out.append(_printed(value, part.pipeline, self.text))
        return "".join(out)


def has_actions(text: str) -> bool:
    """True when `text` has something to render (cheap: no parsing)."""
    return LEFT in text


def parse(text: str) -> Template:
    """Parse `text`; raise TemplateError for anything outside the subset."""
    return _Parser(text).template()


def syntax_error(text: str) -> TemplateError | None:
    """What Go's text/template parser rejects in `text`, else None.

    The syntax only: unclosed actions, quotes and comments, empty actions and
    pipeline stages, parentheses, and if/range/with/define/block matched with
    end. A template that passes may still be outside the subset `parse` takes.
    """
    try:
        _Parser(text, syntax_only=True).template()
    except TemplateError as exc:
        return exc
    return None


def render(text: str, data: Mapping[str, object]) -> str:
    """Render `text` against `data` (a mapping of field names to values)."""
    if not has_actions(text):
        return text
    return parse(text).render(data)


# -- lexing and parsing ------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # field, dot, ident, string, char, number, variable, assign, comma, pipe, (, )
    value: str
    pos: int


# Actions that open a block closed by {{ end }}.
_BLOCKS = frozenset({"if", "range", "with", "define", "block"})


class _Parser:
    def __init__(self, text: str, *, syntax_only: bool = False) -> None:
        self.text = text
        # Only Go's syntax is checked (syntax_error): the actions' tokens, and
        # the blocks still open (keyword, offset of its {{), in order.
        self.syntax_only = syntax_only
        self.blocks: list[tuple[str, int]] = []
        self.lexed: list[_Token] = []  # the tokens of the action being lexed

    def error(self, message: str, pos: int) -> TemplateError:
        return TemplateError(message, self.text, pos)

    def template(self) -> Template:
        text = self.text
        parts: list[str | Action] = []
        pos = 0
        trim_next = False
        while True:
            start = text.find(LEFT, pos)
            chunk = text[pos:] if start < 0 else text[pos:start]
            if trim_next:
                chunk = chunk.lstrip(_SPACE)
            if start < 0:
                if self.blocks:
                    keyword, offset = self.blocks[-1]
                    message = f"`{{{{{keyword}}}}}` is never closed by `{{{{end}}}}`"
                    raise self.error(message, offset)
                if chunk:
                    parts.append(chunk)
                return Template(text, tuple(parts))
            inner = start + len(LEFT)
            if text.startswith("-", inner) and text[inner + 1 : inner + 2] in tuple(_SPACE):
                chunk = chunk.rstrip(_SPACE)
                inner += 2  # past the trim marker `- `
            if chunk:
                parts.append(chunk)
            end, trim_next, action = self.action(start, inner)
            if action is not None:
                parts.append(action)
            pos = end

    def action(self, start: int, inner: int) -> tuple[int, bool, Action | None]:
        """Parse one action from `inner`; return where the text resumes."""
        text = self.text
        if text.startswith("/*", inner):  # as in Go: right after `{{` or `{{- `
            close = text.find("*/", inner + 2)
            if close < 0:
                raise self.error("unclosed comment", start)
            after = close + 2
            trim = False
            if text[after : after + 1] in tuple(_SPACE) and text.startswith("-" + RIGHT, after + 1):
                after, trim = after + 2, True
            if not text.startswith(RIGHT, after):
                raise self.error("comment ends before the closing `}}`", start)
            return after + len(RIGHT), trim, None
        try:
            tokens, end, trim = self.lex(inner, start)
        except TemplateError:
            if self.syntax_only:  # Go parses as it lexes: it names the earlier mistake
                self.check_action(self.lexed, start, complete=False)
            raise
        if self.syntax_only:
            self.check_action(tokens, start)
            return end, trim, None
        if not tokens:
            raise self.error("missing value for command (empty action)", start)
        pipeline, used = self.pipeline(tokens, 0, start)
        if used != len(tokens):
            tok = tokens[used]
            raise self.error(f"unexpected {_describe(tok)} in action", tok.pos)
        return end, trim, Action(pipeline, start)

    def lex(self, pos: int, start: int) -> tuple[list[_Token], int, bool]:
        text = self.text
        tokens: list[_Token] = []
        self.lexed = tokens
        while True:
            if pos >= len(text):
                raise self.error("unclosed action: `{{` without `}}`", start)
            c = text[pos]
            if c in _SPACE:
                if text.startswith("-" + RIGHT, pos + 1):
                    return tokens, pos + 1 + len("-" + RIGHT), True
                pos += 1
                continue
            if text.startswith(RIGHT, pos):
                return tokens, pos + len(RIGHT), False
            if text.startswith("-" + RIGHT, pos) and text[pos - 1] in _SPACE:
                # `{{- -}}`: the left marker took the space before the right one
                return tokens, pos + len("-" + RIGHT), True
            if c == "|":
                tokens.append(_Token("pipe", c, pos))
                pos += 1
            elif c == "(":
                tokens.append(_Token("lparen", c, pos))
                pos += 1
            elif c == ")":
                tokens.append(_Token("rparen", c, pos))
                pos += 1
            elif c == '"':
                value, pos2 = _lex_quoted(text, pos, self.error)
                tokens.append(_Token("string", value, pos))
                pos = pos2
            elif c == "`":
                close = text.find("`", pos + 1)
                if close < 0:
                    raise self.error("unterminated raw string", pos)
                tokens.append(_Token("string", text[pos + 1 : close].replace("\r", ""), pos))
                pos = close + 1
            elif c == "'":
                end = _char_end(text, pos)
                if end < 0:
                    raise self.error("unterminated character constant", pos)
                tokens.append(_Token("char", text[pos:end], pos))
                pos = end
            elif c == "." and text[pos + 1 : pos + 2].isdigit():
                end = _number_end(text, pos)
                tokens.append(_Token("number", text[pos:end], pos))
                pos = end
            elif c == ".":
                end = _ident_end(text, pos + 1)
                if end == pos + 1:
                    tokens.append(_Token("dot", ".", pos))
                    pos += 1
                else:
                    while text.startswith(".", end) and _ident_end(text, end + 1) > end + 1:
                        end = _ident_end(text, end + 1)  # a chain: .Values.node.hostname
                    tokens.append(_Token("field", text[pos + 1 : end], pos))
                    pos = end
            elif c.isdigit() or (c in "+-" and pos + 1 < len(text) and text[pos + 1].isdigit()):
                end = _number_end(text, pos)
                tokens.append(_Token("number", text[pos:end], pos))
                pos = end
            elif c.isalpha() or c == "_":
                end = _ident_end(text, pos)
                tokens.append(_Token("ident", text[pos:end], pos))
                pos = end
            elif c == "$":
                end = _ident_end(text, pos + 1)
                tokens.append(_Token("variable", text[pos:end], pos))
                pos = end
            elif text.startswith(":=", pos) or c == "=":
                end = pos + (2 if c == ":" else 1)
                tokens.append(_Token("assign", text[pos:end], pos))
                pos = end
            elif c == ",":
                tokens.append(_Token("comma", c, pos))
                pos += 1
            else:
                raise self.error(f"unexpected {c!r} in action", pos)

    def check_action(self, tokens: list[_Token], start: int, *, complete: bool = True) -> None:
        """Go's rules for one action: its pipelines, parentheses and block keyword.

        Not `complete`: the tokens before a lexing error, checked one by one.
        """
        filled = [False]  # per parenthesis level: the current command has a value
        after_pipe = False
        for i, tok in enumerate(tokens):
            if tok.kind == "lparen":
                filled[-1] = True
                filled.append(False)
            elif tok.kind == "rparen":
                if len(filled) == 1:
                    raise self.error("unexpected `)` in action", tok.pos)
                if not filled.pop():
                    raise self.error("empty parentheses in action", tok.pos)
            elif tok.kind == "pipe":
                if not filled[-1]:
                    raise self.error("missing command before `|`", tok.pos)
                filled[-1], after_pipe = False, True
            elif tok.kind == "assign":
                if i == 0 or tokens[i - 1].kind != "variable":  # `$x := ...`, `$x = ...`
                    raise self.error(f"unexpected `{tok.value}` in action", tok.pos)
                filled[-1] = False  # `$x := pipeline`: a new pipeline starts
            elif tok.kind == "comma":
                if i == 0 or tokens[i - 1].kind != "variable":  # `range $i, $e := ...`
                    raise self.error("unexpected `,` in action", tok.pos)
            else:
                filled[-1] = True
        if not complete:
            return
        if len(filled) > 1:
            raise self.error("unclosed `(` in action", start)
        if not filled[0]:
            raise self.error("missing command after `|`" if after_pipe else "empty action", start)
        self.track_block(tokens[0].value if tokens[0].kind == "ident" else "", start)

    def track_block(self, keyword: str, start: int) -> None:
        """Match if/range/with/define/block with end, as Go's parser does."""
        if keyword in _BLOCKS:
            if keyword == "define" and self.blocks:
                raise self.error("`{{define}}` is only allowed at the top level", start)
            self.blocks.append((keyword, start))
        elif keyword == "end":
            if not self.blocks:
                raise self.error("`{{end}}` without an open if/range/with", start)
            self.blocks.pop()
        elif keyword == "else":
            if not self.blocks or self.blocks[-1][0] not in ("if", "range", "with"):
                raise self.error("`{{else}}` outside if/range/with", start)
        elif keyword in ("break", "continue") and all(b != "range" for b, _ in self.blocks):
            raise self.error(f"`{{{{{keyword}}}}}` outside `{{{{range}}}}`", start)

    def pipeline(self, tokens: list[_Token], i: int, pos: int) -> tuple[Pipeline, int]:
        commands: list[Command] = []
        while True:
            command, i = self.command(tokens, i, pos)
            commands.append(command)
            if i < len(tokens) and tokens[i].kind == "pipe":
                i += 1
                if i >= len(tokens) or tokens[i].kind in ("pipe", "rparen"):
                    raise self.error("missing command after |", tokens[i - 1].pos)
                continue
            return Pipeline(tuple(commands), commands[0].pos), i

    def command(self, tokens: list[_Token], i: int, pos: int) -> tuple[Command, int]:
        args: list[Node] = []
        start = tokens[i].pos if i < len(tokens) else pos
        while i < len(tokens) and tokens[i].kind not in ("pipe", "rparen"):
            tok = tokens[i]
            if tok.kind == "lparen":
                if i + 1 >= len(tokens) or tokens[i + 1].kind == "rparen":
                    raise self.error("missing value in parentheses", tok.pos)
                inner, i = self.pipeline(tokens, i + 1, tok.pos)
                if i >= len(tokens) or tokens[i].kind != "rparen":
                    raise self.error("unclosed parenthesis", tok.pos)
                if i + 1 < len(tokens) and tokens[i + 1].kind in ("field", "dot"):
                    raise self.error(
                        "field access on a parenthesized value is not supported", tokens[i + 1].pos
                    )
                args.append(inner)
                i += 1
                continue
            args.append(self.operand(tok, first=not args))
            i += 1
        if not args:
            raise self.error("missing value for command", start)
        if not isinstance(args[0], Func) and len(args) > 1:
            raise self.error(f"can't give argument to non-function {_shown(args[0])}", args[1].pos)
        return Command(tuple(args), start), i

    def operand(self, tok: _Token, *, first: bool) -> Node:
        if tok.kind == "field":
            return Field(tuple(tok.value.split(".")), tok.pos)
        if tok.kind == "dot":
            return Field((), tok.pos)
        if tok.kind == "string":
            return Literal(tok.value, tok.pos)
        if tok.kind == "number":
            return Literal(_parse_int(tok, self.error), tok.pos)
        if tok.kind == "variable":
            raise self.error(f"variable {tok.value} is not supported", tok.pos)
        if tok.kind == "char":
            raise self.error("character constants are not supported", tok.pos)
        if tok.kind == "assign":
            raise self.error("variable assignment is not supported", tok.pos)
        if tok.kind == "comma":
            raise self.error("unexpected ',' in action", tok.pos)
        assert tok.kind == "ident"
        word = tok.value
        if word in ("true", "false"):
            return Literal(word == "true", tok.pos)
        if word == "nil":
            if first:
                raise self.error("nil is not a command", tok.pos)
            return Literal(MISSING, tok.pos)
        if word in KEYWORDS:
            raise self.error(
                f"`{word}` actions are not supported (supported: {SUPPORTED})", tok.pos
            )
        if word not in FUNCTIONS:
            raise self.error(
                f"function {word!r} is not supported (supported: {SUPPORTED})", tok.pos
            )
        if not first:
            raise self.error(
                f"function {word!r} used as an argument; wrap it in parentheses", tok.pos
            )
        return Func(word, tok.pos)


def _ident_end(text: str, pos: int) -> int:
    while pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
        pos += 1
    return pos


def _number_end(text: str, pos: int) -> int:
    end = pos + 1
    while end < len(text) and (text[end].isalnum() or text[end] in "_.+-"):
        if text[end] in "+-" and text[end - 1] not in "eEpP":
            break
        end += 1
    return end


def _char_end(text: str, pos: int) -> int:
    """Index past the character constant starting at `pos`, or -1 (unterminated)."""
    i = pos + 1
    while i < len(text) and text[i] != "\n":
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            return i + 1
        i += 1
    return -1


def _parse_int(tok: _Token, error: Callable[[str, int], TemplateError]) -> int:
    try:
        return int(tok.value.replace("_", ""), 0)
    except ValueError:
        pass
    digits = tok.value.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits.isdigit():  # Go reads 017 as octal
        return int(tok.value.replace("0", "0o", 1), 8)
    raise error(f"number {tok.value} is not supported (integers only)", tok.pos)


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


def _lex_quoted(text: str, pos: int, error: Callable[[str, int], TemplateError]) -> tuple[str, int]:
    """A Go interpreted string literal starting at `pos` (the quote)."""
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\n":
            break
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(nxt)
        if width is not None:
            digits = text[i + 2 : i + 2 + width]
            if len(digits) == width and all(d in "0123456789abcdefABCDEF" for d in digits):
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
        elif nxt in "01234567" and nxt:
            digits = text[i + 1 : i + 4]
            if len(digits) == 3 and all(d in "01234567" for d in digits):
                out.append(chr(int(digits, 8)))
                i += 4
                continue
        raise error(f"unknown escape sequence \\{nxt}", i)
    raise error("unterminated quoted string", pos)


def _describe(tok: _Token) -> str:
    return {"pipe": "|", "lparen": "(", "rparen": ")"}.get(tok.kind, repr(tok.value))


def _shown(node: Node) -> str:
    if isinstance(node, Field):
        return node.shown()
    if isinstance(node, Literal):
        return repr(node.value)
    return "(...)"


# -- evaluation --------------------------------------------------------------


class _Evaluator:
    def __init__(self, text: str, data: Mapping[str, object]) -> None:
        self.text = text
        self.data = data

    def error(self, message: str, pos: int) -> TemplateError:
        return TemplateError(message, self.text, pos)

    def pipeline(self, pipe: Pipeline) -> object:
        value: object = None
        for i, command in enumerate(pipe.commands):
            value = self.command(command, piped=(value,) if i else ())
        return value

    def command(self, command: Command, *, piped: tuple[object, ...]) -> object:
        head = command.args[0]
        if not isinstance(head, Func):
            if piped:
                raise self.error(f"can't give argument to non-function {_shown(head)}", head.pos)
            return self.value(head)
        args = [self.value(a) for a in command.args[1:]] + list(piped)
        return FUNCTIONS[head.name](self, head, args)

    def value(self, node: Node) -> object:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Pipeline):
            return self.pipeline(node)
        assert isinstance(node, Field)
        current: object = self.data
        for depth, name in enumerate(node.names):
            if isinstance(current, Mapping):
                current = current.get(name, MISSING)
                continue
            where = "." + ".".join(node.names[:depth]) if depth else "the data"
            if current is MISSING:
                raise self.error(
                    f"{where} has no value, so {node.shown()} cannot be read", node.pos
                )
            raise self.error(
                f"can't evaluate field {name} in {_type_name(current)} {where}", node.pos
            )
        return current


def _printed(value: object, pipe: Pipeline, text: str) -> str:
    """The text Go would print for `value`; missing or composite values are errors."""
    if value is MISSING or value is None:
        what = _shown(pipe.commands[-1].args[0]) if len(pipe.commands) == 1 else "the pipeline"
        raise TemplateError(f"{what} has no value", text, pipe.pos)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{_type_name(value)} cannot be printed", text, pipe.pos)


def _type_name(value: object) -> str:
    if value is MISSING or value is None:
        return "nothing"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "int"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, Sequence):
        return "list"
    return type(value).__name__


Fn = Callable[[_Evaluator, Func, list[object]], object]


def _arity(ev: _Evaluator, fn: Func, args: list[object], want: int) -> None:
    if len(args) != want:
        raise ev.error(f"wrong number of args for {fn.name}: want {want} got {len(args)}", fn.pos)


def _want_str(ev: _Evaluator, fn: Func, value: object, index: int) -> str:
    if isinstance(value, str):
        return value
    raise ev.error(
        f"wrong type for value; {fn.name} expects a string as argument {index + 1},"
        f" got {_type_name(value)}",
        fn.pos,
    )


def _want_int(ev: _Evaluator, fn: Func, value: object, index: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ev.error(
        f"wrong type for value; {fn.name} expects an integer as argument {index + 1},"
        f" got {_type_name(value)}",
        fn.pos,
    )


def _trunc(ev: _Evaluator, fn: Func, args: list[object]) -> object:
    _arity(ev, fn, args, 2)
    count = _want_int(ev, fn, args[0], 0)
    text = _want_str(ev, fn, args[1], 1)
    if count < 0:  # sprig: a negative count keeps the end
        return text[count:] if len(text) + count > 0 else text
    return text[:count]


def _one_string(op: Callable[[str], str]) -> Fn:
    def call(ev: _Evaluator, fn: Func, args: list[object]) -> object:
        _arity(ev, fn, args, 1)
        return op(_want_str(ev, fn, args[0], 0))

    return call


def _replace(ev: _Evaluator, fn: Func, args: list[object]) -> object:
    _arity(ev, fn, args, 3)
    old, new, src = (_want_str(ev, fn, a, i) for i, a in enumerate(args))
    return src.replace(old, new)


def _is_empty(value: object) -> bool:
    if value is MISSING or value is None:
        return True
    if isinstance(value, str | Mapping | Sequence):
        return len(value) == 0
    if isinstance(value, bool | int | float):
        return not value
    return False


def _default(ev: _Evaluator, fn: Func, args: list[object]) -> object:
    if not args:
        raise ev.error("wrong number of args for default: want at least 1 got 0", fn.pos)
    fallback, given = args[0], args[1:]
    if not given or _is_empty(given[0]):
        return fallback
    return given[0]


def _quote(ev: _Evaluator, fn: Func, args: list[object]) -> object:
    quoted = []
    for value in args:
        if value is MISSING or value is None:
            continue  # sprig skips nil arguments
        if isinstance(value, Mapping) or (
            isinstance(value, Sequence) and not isinstance(value, str)
        ):
            raise ev.error(f"quote cannot quote a {_type_name(value)}", fn.pos)
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        quoted.append(go_quote(text))
    return " ".join(quoted)


def go_quote(text: str) -> str:
    """Go's strconv.Quote: a double-quoted string with Go escapes."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append(
                {
                    "\a": "\\a",
                    "\b": "\\b",
                    "\f": "\\f",
                    "\n": "\\n",
                    "\r": "\\r",
                    "\t": "\\t",
                    "\v": "\\v",
                }[ch]
            )
        elif ch == " " or (ch.isprintable() and code != 0x7F):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


FUNCTIONS: dict[str, Fn] = {
    "trunc": _trunc,
    "lower": _one_string(str.lower),
    "upper": _one_string(str.upper),
    "trim": _one_string(str.strip),
    "replace": _replace,
    "default": _default,
    "quote": _quote,
}
