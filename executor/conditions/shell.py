"""Parse the shell subset that `if` conditions use into a small AST.

Only what can be evaluated exactly without a shell is accepted. Anything else
(expansions, globs, other redirections, keywords) raises `NotNative`, and the
caller falls back to `/bin/sh -c`: that is a routing decision, not an error.
"""

from __future__ import annotations

from executor.record import dataclass


class NotNative(Exception):
    """The expression is valid shell (maybe) but outside the native subset."""


class ShellSyntaxError(Exception):
    """The expression is not valid shell at all (unbalanced quotes, `&& &&`)."""


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]  # words after quote removal


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    negated: bool = False


@dataclass(frozen=True)
class Group:
    body: Node
    negated: bool = False


@dataclass(frozen=True)
class AndOr:
    first: Node
    rest: tuple[tuple[str, Node], ...]  # ("&&" | "||", node), left-associative


@dataclass(frozen=True)
class Sequence:
    items: tuple[Node, ...]  # separated by ; or newline: the last one decides


Node = Command | Pipeline | Group | AndOr | Sequence

# Characters that would need expansion, globbing or a construct we refuse.
_EXPANSIONS = set("$`")
_GLOBS = set("*?")
_OPERATORS = ("&&", "||", "|", ";", "(", ")", "&", "<", ">")
_RESERVED = {"if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until",
             "do", "done", "{", "}", "function", "select", "[["}


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "op", "newline"
    text: str
    quoted: bool = False  # any part quoted (so not a keyword or operator)


def tokenize(text: str) -> list[Token]:
    """Split into words and operators as the shell does, removing quotes."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    word: list[str] = []
    in_word = quoted = False

    def flush() -> None:
        nonlocal word, in_word, quoted
        if in_word:
            tokens.append(Token("word", "".join(word), quoted))
        word, in_word, quoted = [], False, False

    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n and text[i + 1] == "\n":  # line continuation
                i += 2
                continue
            if i + 1 >= n:
                raise ShellSyntaxError("trailing backslash")
            word.append(text[i + 1])
            in_word = quoted = True
            i += 2
            continue
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated single quote")
            word.append(text[i + 1 : end])
            in_word = quoted = True
            i = end + 1
            continue
        if c == '"':
            i = _double_quoted(text, i + 1, word)
            in_word = quoted = True
            continue
        if c in " \t":
            flush()
            i += 1
            continue
        if c == "\n":
            flush()
            tokens.append(Token("newline", "\n"))
            i += 1
            continue
        if c == "#" and not in_word:
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in _EXPANSIONS:
            raise NotNative(f"`{c}` expansion")
        if c in _GLOBS:
            raise NotNative("glob pattern")
        if c.isdigit() and not in_word and _redirect_at(text, i):
            flush()
            i = _skip_redirect(text, i)
            continue
        if c in "&|;()<>":
            if c in "<>":
                if _redirect_at(text, i):
                    flush()
                    i = _skip_redirect(text, i)
                    continue
                raise NotNative("redirection other than to /dev/null")
            flush()
            two = text[i : i + 2]
            if two in ("&&", "||", ";;"):
                if two == ";;":
                    raise ShellSyntaxError("unexpected `;;`")
                tokens.append(Token("op", two))
                i += 2
            else:
                if c == "&":
                    raise NotNative("background `&`")
                tokens.append(Token("op", c))
                i += 1
            continue
        word.append(c)
        in_word = True
        i += 1
    flush()
    return tokens


def _double_quoted(text: str, i: int, word: list[str]) -> int:
    """Read a double-quoted part starting after its quote; return the index past it."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return i + 1
        if c in _EXPANSIONS:
            raise NotNative(f"`{c}` expansion in double quotes")
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "\n":
                i += 2
                continue
            if nxt in '"\\$`':
                word.append(nxt)
                i += 2
                continue
        word.append(c)
        i += 1
    raise ShellSyntaxError("unterminated double quote")


def _redirect_at(text: str, i: int) -> bool:
    """True when a redirection to /dev/null (which changes no result) starts at i."""
    rest = text[i:]
    for form in ("2>/dev/null", "1>/dev/null", ">/dev/null", "2> /dev/null", "> /dev/null",
                 "1> /dev/null", "2>&1", ">&2", "1>&2"):
        if rest.startswith(form):
            after = rest[len(form) : len(form) + 1]
            return after == "" or after in " \t\n;&|)"
    return False


def _skip_redirect(text: str, i: int) -> int:
    rest = text[i:]
    for form in ("2>/dev/null", "1>/dev/null", ">/dev/null", "2> /dev/null", "> /dev/null",
                 "1> /dev/null", "2>&1", ">&2", "1>&2"):
        if rest.startswith(form):
            return i + len(form)
    raise NotNative("redirection")  # pragma: no cover - guarded by _redirect_at


def parse(text: str) -> Node:
    """Parse a condition; raise NotNative or ShellSyntaxError when it cannot be."""
    tokens = tokenize(text)
    parser = _Parser(tokens)
    node = parser.sequence(top=True)
    if parser.i != len(tokens):
        raise ShellSyntaxError(f"unexpected `{tokens[parser.i].text}`")
    return node


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def is_op(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.text == text

    def skip_newlines(self) -> None:
        while (tok := self.peek()) is not None and tok.kind == "newline":
            self.i += 1

    def sequence(self, *, top: bool) -> Node:
        items: list[Node] = []
        self.skip_newlines()
        while True:
            tok = self.peek()
            if tok is None or (tok.kind == "op" and tok.text == ")"):
                break
            items.append(self.and_or())
            tok = self.peek()
            if tok is not None and (tok.kind == "newline" or tok.text == ";"):
                self.i += 1
                self.skip_newlines()
                continue
            break
        if not items:
            raise ShellSyntaxError("empty command")
        return items[0] if len(items) == 1 else Sequence(tuple(items))

    def and_or(self) -> Node:
        first = self.pipeline()
        rest: list[tuple[str, Node]] = []
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in ("&&", "||"):
            self.i += 1
            self.skip_newlines()  # `a &&\n b` is valid shell
            rest.append((tok.text, self.pipeline()))
        return first if not rest else AndOr(first, tuple(rest))

    def pipeline(self) -> Node:
        negated = False
        while (tok := self.peek()) is not None and tok.kind == "word" and tok.text == "!" \
                and not tok.quoted:
            negated = not negated
            self.i += 1
        parts = [self.command()]
        while self.is_op("|"):
            self.i += 1
            self.skip_newlines()
            parts.append(self.command())
        if len(parts) == 1 and isinstance(parts[0], Group):
            group = parts[0]
            return Group(group.body, negated) if negated else group
        if len(parts) == 1 and isinstance(parts[0], Command) and not negated:
            return parts[0]
        commands = []
        for part in parts:
            if not isinstance(part, Command):
                raise NotNative("subshell inside a pipeline")
            commands.append(part)
        return Pipeline(tuple(commands), negated)

    def command(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise ShellSyntaxError("missing command")
        if tok.kind == "op" and tok.text == "(":
            self.i += 1
            body = self.sequence(top=False)
            if not self.is_op(")"):
                raise ShellSyntaxError("missing `)`")
            self.i += 1
            return Group(body)
        if tok.kind != "word":
            raise ShellSyntaxError(f"unexpected `{tok.text}`")
        if not tok.quoted and tok.text in _RESERVED:
            raise NotNative(f"shell keyword `{tok.text}`")
        if not tok.quoted and "=" in tok.text and tok.text.split("=", 1)[0].isidentifier():
            raise NotNative("variable assignment")
        words: list[str] = []
        while (tok := self.peek()) is not None and tok.kind == "word":
            words.append(tok.text)
            self.i += 1
        return Command(tuple(words))
