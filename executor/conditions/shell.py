"""Parse the shell subset that `if` conditions use into a small AST.

Only what can be evaluated exactly without a shell is accepted. Anything else
(expansions, globs, other redirections, keywords, constructs where dash and
bash disagree) raises `NotNative`, and the caller falls back to `/bin/sh -c`:
that is a routing decision, not an error. `ShellSyntaxError` is kept for text
dash rejects and bash rejects or runs as false, so validation can report it
(`check_syntax`) and a step can treat it as the false condition it is.

A condition of the usual shape (words, simple quotes, `[ ... ]`, `&& || | ;`,
`( )`, /dev/null redirections) is tokenized by one regular expression; any
other goes through the careful character-by-character tokenizer.
"""

from __future__ import annotations

import functools
import re
from collections import namedtuple

from executor.lazyre import lazy_compile
from executor.record import dataclass

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import NamedTuple


class NotNative(Exception):
    """The expression is valid shell (maybe) but outside the native subset."""


class ShellSyntaxError(Exception):
    """The expression is not valid shell (unbalanced quotes, `&& &&`).

    dash rejects it, and so does bash, except for a lone trailing `!`, which
    bash runs as a command that exits 1: `sh -c` is false either way.
    """


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]  # words after quote removal; () for a redirection-only command


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
    items: tuple[Node, ...]  # separated by ; or newline: the last one decides (none: 0)


Node = Command | Pipeline | Group | AndOr | Sequence

# Words that are reserved at the start of a command in dash or bash.
_RESERVED = frozenset(
    {
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "case",
        "esac",
        "for",
        "while",
        "until",
        "do",
        "done",
        "in",
        "{",
        "}",
        "function",
        "select",
        "time",
        "coproc",
        "[[",
        "]]",
    }
)
# After an unquoted `$`, these characters leave the `$` literal in dash and bash
# alike (no parameter, command or arithmetic expansion, no `$'...'`/`$"..."`).
_LITERAL_DOLLAR_NEXT = frozenset(" \t\n/.,:%+=]};&|)<>")
_LITERAL_DOLLAR_NEXT_IN_DQ = frozenset(' \t\n/.,:%+=]})"')
# A redirection that changes no exit status: output to /dev/null or to the
# other output stream (`2>/dev/null`, `> /dev/null`, `2>&1`, `>&2`, `>>/dev/null`).
_HARMLESS_REDIRECT = lazy_compile(r"(?:[12])?(?:>>?[ \t]*/dev/null|>&[12])(?=$|[ \t\n;&|)])")


if TYPE_CHECKING:

    class Token(NamedTuple):
        kind: str  # "word", "op", "newline", "redir"
        text: str
        quoted: bool = False  # any part quoted (so not a keyword or operator)

else:  # the same tuple type, without importing typing for its class syntax
    Token = namedtuple("Token", ("kind", "text", "quoted"), defaults=(False,))


class _WordBuilder:
    """The word being read: its pieces, and whether any piece was quoted."""

    __slots__ = ("bracket", "parts", "quoted", "started")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.started = False
        self.quoted = False
        self.bracket = False  # an unquoted `[`: a glob pattern unless the word is `[`

    def add(self, text: str, *, quoted: bool) -> None:
        self.parts.append(text)
        self.started = True
        if quoted:
            self.quoted = True

    def token(self) -> Token:
        text = "".join(self.parts)
        if self.bracket and (self.quoted or text != "["):
            if text == "[[":
                raise NotNative("`[[` (a bash keyword)")
            raise NotNative("`[` in a word is a glob pattern")
        return Token("word", text, self.quoted)


# Runs of characters that stand for themselves, at the start of a word and inside one.
_SPECIAL = r"\\ \t\n'\"$`*?{<>&|;()\["
_PLAIN_START = lazy_compile(f"[^{_SPECIAL}#~12][^{_SPECIAL}]*")
_PLAIN_INSIDE = lazy_compile(f"[^{_SPECIAL}]+")
_PLAIN_IN_DQ = lazy_compile('[^"\\\\$`]+')


# The common shape of a condition, tokenized by one regular expression: words
# made of plain runs and simple quoted strings, `[` alone, /dev/null
# redirections, `&& || | ; ( )`, newlines, comments and continuations after a
# blank. Anything else takes the careful character-by-character path.
_DQ_SIMPLE = r'"(?:[^"\\$`]|\$(?=[ \t\n/.,:%+=\]})"]))*"'
_FAST_SPECIAL = r"\\ \t\n'\"$`*?{<>&|;()"  # as _SPECIAL, but `[` is checked afterwards
_FAST_TOKEN = lazy_compile(
    r"((?:[ \t]+(?:\\\n[ \t]*)*)?)(?:"  # blanks, and continuations after a blank
    r"([12]?(?:>>?[ \t]*/dev/null|>&[12])(?=\Z|[ \t\n;&|)]))"  # a redirection
    rf"|((?![#~])(?:[^{_FAST_SPECIAL}]+|'[^']*'|{_DQ_SIMPLE})+)"  # a word
    r"|(&&|\|\||\|(?!\|)|;(?!;)|\((?!\()|\))"  # an operator
    r"|(\n)"
    r"|(\#[^\n]*)"  # a comment
    r"|\Z)"
)
_QUOTED_PART = lazy_compile(r"'([^']*)'|\"([^\"]*)\"")


def _fast_tokenize(text: str) -> list[Token] | None:
    """Tokens of a condition of the common shape; None when it has another.

    One `findall` reads the whole text; when the pieces it found do not add up
    to the text, something in between has another shape.
    """
    tokens: list[Token] = []
    append = tokens.append
    covered = 0
    digits = False  # the previous token is a word of digits only
    for blank, redir, word, op, newline, comment in _FAST_TOKEN.findall(text):
        covered += len(blank) + len(redir) + len(word) + len(op) + len(newline) + len(comment)
        if word:
            if "'" in word or '"' in word:
                if "[" in word:
                    return None  # is it quoted? the careful path knows
                if word[0] == word[-1] == '"' and word.count('"') == 2 and "'" not in word:
                    append(Token("word", word[1:-1], True))  # the usual "..." alone
                else:
                    append(Token("word", _QUOTED_PART.sub(_unquote, word), True))
                digits = False
                continue
            if "[" in word and word != "[":
                return None  # a glob pattern, or `[[`
            append(Token("word", word))
            digits = word.isdigit()
            continue
        if redir:
            if digits and not blank:
                return None  # `3>` or `12>`: let the careful path refuse it
            append(Token("redir", redir))
        elif op:
            append(Token("op", op))
        elif newline:
            append(Token("newline", newline))
        digits = False
    return tokens if covered == len(text) else None


# The commonest shape of all, `[ -e "/run/cos/x" ] && [ ! -e "/run/cos/y" ]`:
# words and operators between single spaces. str.split reads it without the
# regex above, whose compile alone (~3M instructions) would be most of what a
# boot stage spends on its conditions. tests/test_conditions_shell.py checks
# that it gives _fast_tokenize's tokens whenever it answers.
_SPLIT_OPERATORS = frozenset({"&&", "||", "|", ";", "(", ")"})
_NOT_PLAIN = frozenset("\\ \t\n\r\v\f'\"$`*?{}<>&|;()[#~")
_NOT_IN_QUOTES = frozenset('"\\$`[')


def _split_tokenize(text: str) -> list[Token] | None:
    """Tokens of a condition made of plain words, "simple" quoted words and
    operators separated by spaces; None when it has another shape."""
    tokens: list[Token] = []
    for piece in text.split(" "):
        if not piece:
            continue
        if piece in _SPLIT_OPERATORS:
            tokens.append(Token("op", piece))
        elif piece == "[" or _NOT_PLAIN.isdisjoint(piece):
            tokens.append(Token("word", piece))
        elif (
            len(piece) >= 2
            and piece[0] == piece[-1] == '"'
            and _NOT_IN_QUOTES.isdisjoint(piece[1:-1])
        ):
            tokens.append(Token("word", piece[1:-1], True))
        else:
            return None
    return tokens


def _unquote(match: re.Match[str]) -> str:
    single = match.group(1)
    return single if single is not None else match.group(2)


def tokenize(text: str) -> list[Token]:
    """Split into words and operators as the shell does, removing quotes."""
    fast = _split_tokenize(text)
    if fast is None:
        fast = _fast_tokenize(text)
    return fast if fast is not None else careful_tokenize(text)


def careful_tokenize(text: str) -> list[Token]:
    """Tokens of any condition, character by character; the reference for the fast paths."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    word = _WordBuilder()

    def flush() -> None:
        nonlocal word
        if word.started:
            tokens.append(word.token())
            word = _WordBuilder()

    while i < n:
        plain = (_PLAIN_INSIDE if word.started else _PLAIN_START).match(text, i)
        if plain:
            word.add(plain.group(), quoted=False)
            i = plain.end()
            continue
        c = text[i]
        if c == "\\":
            if i + 1 < n and text[i + 1] == "\n":  # line continuation
                i += 2
                continue
            if i + 1 >= n:  # a backslash at the very end stays a backslash
                word.add("\\", quoted=True)
                i += 1
                continue
            word.add(text[i + 1], quoted=True)
            i += 2
            continue
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated single quote")
            word.add(text[i + 1 : end], quoted=True)
            i = end + 1
            continue
        if c == '"':
            i = _double_quoted(text, i + 1, word)
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
        if not word.started and c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if not word.started and c == "~":
            raise NotNative("tilde expansion")
        if c == "$":
            if i + 1 < n and text[i + 1] not in _LITERAL_DOLLAR_NEXT:
                raise NotNative("`$` expansion")
            word.add("$", quoted=False)
            i += 1
            continue
        if c == "`":
            raise NotNative("command substitution")
        if c in "*?":
            raise NotNative("glob pattern")
        if c == "{":
            raise NotNative("`{` (brace group or brace expansion)")
        if c == "[":
            word.bracket = True
            word.add(c, quoted=False)
            i += 1
            continue
        if (c in "12" and not word.started) or c in "<>":
            if c in "<>" and word.started and not word.quoted and "".join(word.parts).isdigit():
                # `3>` or `12>`: a file descriptor to dash or to bash, or both
                raise NotNative("a redirection of another file descriptor")
            match = _HARMLESS_REDIRECT.match(text, i)
            if match:
                flush()
                tokens.append(Token("redir", match.group()))
                i = match.end()
                continue
            if c in "<>":
                raise NotNative("redirection other than to /dev/null")
            word.add(c, quoted=False)  # a word starting with 1 or 2
            i += 1
            continue
        # c is one of & | ; ( )
        flush()
        two = text[i : i + 2]
        if two == "((":
            raise NotNative("`((` (an arithmetic command in bash)")
        if two in ("&&", "||"):
            tokens.append(Token("op", two))
            i += 2
        elif two == ";;":
            if any(t.kind == "word" and t.text == "case" and not t.quoted for t in tokens):
                raise NotNative("`case`")
            raise ShellSyntaxError("`;;` outside case")
        elif c == "&":
            raise NotNative("background `&`")
        else:
            tokens.append(Token("op", c))
            i += 1
    flush()
    return tokens


def _double_quoted(text: str, i: int, word: _WordBuilder) -> int:
    """Read a double-quoted part starting after its quote; return the index past it."""
    n = len(text)
    word.add("", quoted=True)
    while i < n:
        plain = _PLAIN_IN_DQ.match(text, i)
        if plain:
            word.add(plain.group(), quoted=True)
            i = plain.end()
            continue
        c = text[i]
        if c == '"':
            return i + 1
        if c == "`":
            raise NotNative("command substitution in double quotes")
        if c == "$" and i + 1 < n and text[i + 1] not in _LITERAL_DOLLAR_NEXT_IN_DQ:
            raise NotNative("`$` expansion in double quotes")
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "\n":
                i += 2
                continue
            if nxt in '"\\$`':
                word.add(nxt, quoted=True)
                i += 2
                continue
        word.add(c, quoted=True)
        i += 1
    raise ShellSyntaxError("unterminated double quote")


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Node:
    """Parse a condition; raise NotNative or ShellSyntaxError when it cannot be.

    The tree is immutable, so a condition that many steps share (Kairos
    configs repeat theirs) is parsed once.
    """
    tokens = tokenize(text)
    parser = _Parser(tokens)
    parser.skip_newlines()
    if parser.peek() is None:
        return Sequence(())  # only blanks and comments: the shell exits 0
    node = parser.sequence()
    tok = parser.peek()
    if tok is not None:
        raise ShellSyntaxError(f"unexpected `{tok.text}`")
    return node


def check_syntax(text: str) -> str | None:
    """A message when `text` is not valid shell at all, else None.

    Stable entry point for validation. Text outside the native subset (it
    would run in `/bin/sh`) is valid here; only what dash rejects, and bash
    rejects too or runs as false, is reported.
    """
    try:
        parse(text)
    except NotNative:
        return None
    except ShellSyntaxError as exc:
        return str(exc)
    return None


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def is_op(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.text == text

    def skip_newlines(self) -> None:
        while (tok := self.peek()) is not None and tok.kind == "newline":
            self.i += 1

    def sequence(self) -> Node:
        """A list: and-or lists separated by `;` or newlines (a trailing one is fine)."""
        items = [self.and_or()]
        while (tok := self.peek()) is not None and (
            tok.kind == "newline" or (tok.kind == "op" and tok.text == ";")
        ):
            self.i += 1
            self.skip_newlines()
            nxt = self.peek()
            if nxt is None or (nxt.kind == "op" and nxt.text == ")"):
                break
            items.append(self.and_or())
        return items[0] if len(items) == 1 else Sequence(tuple(items))

    def and_or(self) -> Node:
        first = self.pipeline()
        rest: list[tuple[str, Node]] = []
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in ("&&", "||"):
            self.i += 1
            self.skip_newlines()  # `a &&\n b` is valid shell
            rest.append((tok.text, self.pipeline()))
        return first if not rest else AndOr(first, tuple(rest))

    def _is_bang(self) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text == "!" and not tok.quoted

    def _after_or(self) -> bool:
        """Whether an `||` comes before the current token (bash may skip what follows)."""
        return any(t.kind == "op" and t.text == "||" for t in self.tokens[: self.i])

    def pipeline(self) -> Node:
        negated = False
        if self._is_bang():
            negated = True
            self.i += 1
            if self._is_bang():
                raise NotNative("`! !` (dash rejects it, bash accepts it)")
            tok = self.peek()
            if tok is not None and tok.kind == "newline":
                # dash: a syntax error; bash: `!` alone, then the next line runs
                raise NotNative("`!` at the end of a line")
            if tok is None and self._after_or():
                # dash rejects it; bash skips it after a true `||` side: true there
                raise NotNative("`!` without a command after `||` (dash rejects it)")
            if tok is None or (tok.kind == "op" and tok.text in ("&&", "||", ";", ")")):
                # dash rejects it; bash rejects it too, or (at the very end)
                # negates nothing and exits 1: false either way
                raise ShellSyntaxError("`!` without a command")
        parts = [self.command()]
        while self.is_op("|"):
            self.i += 1
            self.skip_newlines()
            if self._is_bang():
                raise ShellSyntaxError("`!` after `|`")
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
            raise ShellSyntaxError("missing command at the end")
        if tok.kind == "op" and tok.text == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise NotNative(f"subshells nested deeper than {MAX_NESTING}")
            self.i += 1
            self.skip_newlines()
            if self.is_op(")"):
                raise ShellSyntaxError("empty `( )`")
            body = self.sequence()
            if not self.is_op(")"):
                raise ShellSyntaxError("missing `)`")
            self.i += 1
            self.depth -= 1
            while (tok := self.peek()) is not None and tok.kind == "redir":
                self.i += 1
            return Group(body)
        if tok.kind not in ("word", "redir"):
            raise ShellSyntaxError(f"unexpected `{tok.text.strip() or 'newline'}`")
        words: list[str] = []
        tokens, i, n = self.tokens, self.i, len(self.tokens)
        while i < n and (tok := tokens[i]).kind in ("word", "redir"):
            if tok.kind == "word":
                if not words:
                    _check_command_name(tok)
                words.append(tok.text)
            i += 1
        self.i = i
        if self.is_op("(") and len(words) == 1:
            raise NotNative("function definition")
        return Command(tuple(words))


MAX_NESTING = 64  # deeper `( ( ...` goes to the shell rather than deep into recursion
_ASSIGNMENT = lazy_compile(r"[A-Za-z_][A-Za-z_0-9]*=")


def _check_command_name(tok: Token) -> None:
    if not tok.quoted and tok.text in _RESERVED:
        raise NotNative(f"shell keyword `{tok.text}`")
    if "=" in tok.text and _ASSIGNMENT.match(tok.text):  # the test spares the compile
        raise NotNative("variable assignment")
