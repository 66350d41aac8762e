"""The `test` and `[` builtins, with the answer dash gives, where bash agrees.

`/bin/sh` is dash on Debian and Ubuntu and bash on most other distributions,
so a native answer must be the one both give. There is one operator table and
one expression parser (dash's recursive descent); the two shells differ only
in the forms they fix by argument count before parsing (POSIX's special cases
for up to four arguments, each shell with its own quirks), and those are
written as data: a table of count forms per reading. An argument list is read
by dash's table, by bash's table, and checked for being "plain" (no operand
that looks like an operator) by a third table plus the parser in a checking
mode. When the readings differ, or a primitive is outside the native set
(`-nt`, `-t`, `<` ...), the condition goes to the shell.

Exit statuses are the shell's: 0 true, 1 false, 2 a usage error (a missing
`]`, an illegal number, a misplaced operator).

Everything but the file tests is decided by the words alone, so each argument
list is compiled once (both shells' readings, usage errors, string and
integer comparisons) into a small tree of file tests, and evaluating a
condition again only asks the filesystem.
"""

from __future__ import annotations

import functools

from executor.conditions.shell import NotNative
from executor.lazyre import lazy_compile

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any

    from executor.conditions.condfs import CondFS

# -- the operator table ----------------------------------------------------------

# What each operator word is to the grammar: dash's table (src/bltin/test.c),
# which bash knows in full too.
_UNARY, _BINARY, _NOT, _AND, _OR, _OPEN, _CLOSE = (
    "unary",
    "binary",
    "not",
    "and",
    "or",
    "open",
    "close",
)
OPERATORS: dict[str, str] = {
    **dict.fromkeys(("-r", "-w", "-x", "-e", "-f", "-d", "-c", "-b", "-p", "-u", "-g"), _UNARY),
    **dict.fromkeys(("-k", "-s", "-t", "-z", "-n", "-h", "-O", "-G", "-L", "-S"), _UNARY),
    **dict.fromkeys(("=", "!=", "<", ">", "-eq", "-ne", "-ge", "-gt", "-le", "-lt"), _BINARY),
    **dict.fromkeys(("-nt", "-ot", "-ef"), _BINARY),
    "!": _NOT,
    "-a": _AND,
    "-o": _OR,
    "(": _OPEN,
    ")": _CLOSE,
}
UNARY_OPS = frozenset(w for w, kind in OPERATORS.items() if kind == _UNARY)
BINARY_OPS = frozenset(w for w, kind in OPERATORS.items() if kind == _BINARY)
# Operators to bash alone; with the table, the words that are never a plain operand.
BASH_ONLY_OPERATORS = frozenset({"==", "=~", "-v", "-R", "-N"})
OPERATOR_WORDS = frozenset(OPERATORS) | BASH_ONLY_OPERATORS
NATIVE_UNARY = frozenset({"-e", "-f", "-d", "-L", "-h", "-r", "-w", "-x", "-s", "-n", "-z"})
NATIVE_BINARY = frozenset({"=", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge"})

MAX_ARGS = 128  # longer expressions go to the shell rather than deep into recursion
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# dash (strtoimax, then any trailing isspace) and bash (strtoimax, then
# trailing blanks only) accept these; both skip leading isspace.
_DASH_INTEGER = lazy_compile(r"[ \t\n\v\f\r]*([-+]?[0-9]+)[ \t\n\v\f\r]*")
_BASH_INTEGER = lazy_compile(r"[ \t\n\v\f\r]*([-+]?[0-9]+)[ \t]*")


class UsageError(Exception):
    """What the builtin reports as a usage error (exit status 2)."""


def run_test(name: str, args: list[str], fs: CondFS) -> int:
    """Exit status of `test ARGS` or `[ ARGS ]`."""
    if name == "[":
        if not args or not args[-1].startswith("]"):
            return 2  # "[: missing ]" in both shells
        if args[-1] != "]":
            raise NotNative("`[` closed by a word that only starts with `]`")
        args = args[:-1]
    compiled = compile_test(tuple(args))
    if isinstance(compiled, int):
        return compiled
    dash, bash = compiled
    tests: dict[Tree, bool] = {}
    truth = evaluate_tree(dash, fs, tests)
    if bash is not None and evaluate_tree(bash, fs, tests) != truth:
        raise NotNative(f"dash and bash disagree on `test {' '.join(args)}` here")
    return 0 if truth else 1


def usage_error(name: str, args: list[str]) -> str | None:
    return _usage_error(name, tuple(args))


@functools.lru_cache(maxsize=512)
def _usage_error(name: str, words: tuple[str, ...]) -> str | None:
    """What dash prints when `test`/`[` with these words is a usage error, else None.

    Decided by the words alone, by dash's reading: a `[` without `]`, an
    unknown operator (`[ -q f ]`), an illegal number, a misplaced `-a`. dash
    is /bin/sh on Debian and Ubuntu, and our reading of it equals dash's on
    every list the differential test tries (bash accepts a few of them, such
    as `test -a FILE`, which are not portable anyway). A broken test is a
    mistake in the config, not a false condition: validate reports it.
    """
    if name == "[":
        if not words or not words[-1].startswith("]"):
            return "[: missing ]"
        if words[-1] != "]":
            return None
        words = words[:-1]
    try:
        _count_form(words, _POSIX_INDEX)
        read_test(list(words), DASH)
    except UsageError as exc:
        return f"{name}: {exc}"
    except (NotNative, RecursionError):
        return None
    return None


# -- compiled expressions ------------------------------------------------------

# A tree is ("c", bool) | ("u", op, path) | ("!", tree) | ("&", tree, tree) | ("|", tree, tree);
# "u" nodes are the file tests, the only part that depends on the filesystem.
if TYPE_CHECKING:  # the alias is read by mypy only (annotations are strings)
    Tree = tuple[Any, ...]
TRUE: Tree = ("c", True)
FALSE: Tree = ("c", False)


def const(value: bool) -> Tree:
    return TRUE if value else FALSE


def negate(tree: Tree) -> Tree:
    if tree[0] == "c":
        return const(not tree[1])
    return tree[1] if tree[0] == "!" else ("!", tree)


def both(left: Tree, right: Tree) -> Tree:
    if FALSE in (left, right):
        return FALSE
    if left == TRUE:
        return right
    return left if right == TRUE else ("&", left, right)


def either(left: Tree, right: Tree) -> Tree:
    if TRUE in (left, right):
        return TRUE
    if left == FALSE:
        return right
    return left if right == FALSE else ("|", left, right)


@functools.lru_cache(maxsize=512)
def compile_test(args: tuple[str, ...]) -> int | tuple[Tree, Tree | None]:
    """A fixed exit status, or the trees of dash's and bash's readings (None: the same)."""
    try:
        short = _count_form(args, _POSIX_INDEX)
    except UsageError:
        return 2  # both shells: an illegal number in `A -eq B`
    if short is not None:
        return (0 if short[1] else 1) if short[0] == "c" else (short, None)
    words = list(args)
    if len(words) > MAX_ARGS:
        raise NotNative(f"test with more than {MAX_ARGS} arguments")
    if not is_plain(words):
        raise NotNative(
            "test arguments that are not a plain expression "
            "(an operand that looks like an operator, or a misplaced one)"
        )
    dash = _reading_or_none(words, DASH)
    bash = _reading_or_none(words, BASH)
    if dash is None and bash is None:
        return 2
    if dash is None or bash is None:
        raise NotNative(f"dash and bash disagree on `test {' '.join(args)}`")
    if dash[0] == "c" and bash[0] == "c":
        if dash != bash:
            raise NotNative(f"dash and bash disagree on `test {' '.join(args)}`")
        return 0 if dash[1] else 1
    return dash, None if bash == dash else bash


def _reading_or_none(words: list[str], reading: Reading) -> Tree | None:
    """The tree of one shell's reading, None for its usage error."""
    try:
        return read_test(words, reading)
    except UsageError:
        return None


# -- the forms fixed by argument count ---------------------------------------------

# A count form is (number of words, pattern, action). A pattern has one entry
# per word: ANY (None), or the set of words that fit there (a kind from the
# operator table, or a single word). The first form that fits decides; when
# none does, the expression parser reads the words.
ANY = None
UNARY_WORD, BINARY_WORD = UNARY_OPS, BINARY_OPS
NOT_WORD, AND_WORD, OR_WORD = frozenset({"!"}), frozenset({"-a"}), frozenset({"-o"})
OPEN_WORD, CLOSE_WORD = frozenset({"("}), frozenset({")"})
if TYPE_CHECKING:
    from collections.abc import Callable

    Pattern = tuple[frozenset[str] | None, ...]
    Action = Callable[[list[str] | tuple[str, ...]], Tree]
    CountForm = tuple[int, Pattern, Action]
    Checks = tuple[tuple[int, frozenset[str]], ...]
    FormIndex = dict[int, tuple[tuple[Checks, Action], ...]]

# Actions: each gives the answer from the words, except _negate_rest and
# _strip_parens, which have the remaining words read again by the same table.
if TYPE_CHECKING:
    Words = list[str] | tuple[str, ...]


def _false(words: Words) -> Tree:  # no words: false
    return FALSE


def _string(words: Words) -> Tree:  # `ARG`: true when not empty
    return const(words[0] != "")


def _not_string(words: Words) -> Tree:  # `! ARG`: true when empty
    return const(words[1] == "")


def _unary_test(words: Words) -> Tree:  # `UNARY ARG`
    return unary(words[0], words[1])


def _binary_test(words: Words) -> Tree:  # `ARG BINARY ARG`
    return binary(words[0], words[1], words[2])


def _not_unary(words: Words) -> Tree:  # `! UNARY ARG`
    return negate(unary(words[1], words[2]))


def _and_strings(words: Words) -> Tree:  # `ARG -a ARG`: both not empty
    return const(words[0] != "" and words[2] != "")


def _or_strings(words: Words) -> Tree:  # `ARG -o ARG`: either not empty
    return const(words[0] != "" or words[2] != "")


def _unary_expected(words: Words) -> Tree:
    raise UsageError(f"{words[0]}: unary operator expected")


def _binary_expected(words: Words) -> Tree:
    raise UsageError(f"{words[1]}: binary operator expected")


def _negate_rest(words: Words) -> Tree:  # `! ...`: the rest, negated (read_test does it)
    raise AssertionError("read again by read_test")


def _strip_parens(words: Words) -> Tree:  # `( ... )`: the inside (read_test does it)
    raise AssertionError("read again by read_test")


def _plain(words: Words) -> Tree:  # is_plain asks only whether a form fits
    return TRUE


_READ_AGAIN = (_negate_rest, _strip_parens)

# The forms POSIX fixes by argument count which dash and bash read alike: the
# common case, decided without either shell's table (the enumeration test
# holds these to both shells too).
POSIX_FORMS: tuple[CountForm, ...] = (
    (1, (ANY,), _string),
    (2, (NOT_WORD, ANY), _not_string),
    (2, (UNARY_WORD, ANY), _unary_test),
    (3, (ANY, BINARY_WORD, ANY), _binary_test),
    (3, (NOT_WORD, UNARY_WORD, ANY), _not_unary),
)
# dash's test.c: `A BINARY B` with three words, then with three or four words
# a `( ... )` is stripped or a leading `!` is taken off; anything else goes
# to the parser.
DASH_FORMS: tuple[CountForm, ...] = (
    (0, (), _false),
    (3, (ANY, BINARY_WORD, ANY), _binary_test),
    (3, (OPEN_WORD, ANY, CLOSE_WORD), _strip_parens),
    (4, (OPEN_WORD, ANY, ANY, CLOSE_WORD), _strip_parens),
    (3, (NOT_WORD, ANY, ANY), _negate_rest),
    (4, (NOT_WORD, ANY, ANY, ANY), _negate_rest),
)
# bash's posixtest(): every list of up to three words, and two shapes of four.
BASH_FORMS: tuple[CountForm, ...] = (
    (0, (), _false),
    (1, (ANY,), _string),
    (2, (NOT_WORD, ANY), _not_string),
    (2, (UNARY_WORD, ANY), _unary_test),
    (2, (ANY, ANY), _unary_expected),
    (3, (ANY, BINARY_WORD, ANY), _binary_test),
    (3, (ANY, AND_WORD, ANY), _and_strings),
    (3, (ANY, OR_WORD, ANY), _or_strings),
    (3, (NOT_WORD, ANY, ANY), _negate_rest),
    (3, (OPEN_WORD, ANY, CLOSE_WORD), _strip_parens),
    (3, (ANY, ANY, ANY), _binary_expected),
    (4, (NOT_WORD, ANY, ANY, ANY), _negate_rest),
    (4, (OPEN_WORD, ANY, ANY, CLOSE_WORD), _strip_parens),
)
# is_plain: the short forms are plain whatever their operands.
PLAIN_FORMS: tuple[CountForm, ...] = (
    (0, (), _plain),
    (1, (ANY,), _plain),
    (2, (NOT_WORD, ANY), _plain),
    (2, (UNARY_WORD, ANY), _plain),
    (3, (ANY, BINARY_WORD, ANY), _plain),
    (4, (NOT_WORD, ANY, BINARY_WORD, ANY), _plain),
)


def _index(forms: tuple[CountForm, ...]) -> FormIndex:
    """The forms grouped by number of words, in order, each pattern reduced to
    the (position, fitting words) it checks: matching is on the cold path of
    every `[ ... ]`, so it is kept to a dict lookup and a few set lookups."""
    index: dict[int, list[tuple[Checks, Action]]] = {}
    for count, pattern, action in forms:
        checks = tuple((i, fitting) for i, fitting in enumerate(pattern) if fitting is not None)
        index.setdefault(count, []).append((checks, action))
    return {count: tuple(entries) for count, entries in index.items()}


_POSIX_INDEX = _index(POSIX_FORMS)
_PLAIN_INDEX = _index(PLAIN_FORMS)


class Reading:
    """How one shell reads an argument list: its count forms and its `!` rule."""

    def __init__(self, name: str, forms: tuple[CountForm, ...], not_toggles: bool) -> None:
        self.name = name
        self.forms = _index(forms)
        # bash negates once per leading `!`; dash sets its result flag instead,
        # so `! ! ! X` (four words) is `! X` to dash and `! ! X` to bash.
        self.not_toggles = not_toggles


DASH = Reading("dash", DASH_FORMS, not_toggles=False)
# bash's own parser differs from dash's only on lists that are not plain
# (operands that look like operators, leftovers), and bash is read on plain
# lists alone, so the one parser serves both.
BASH = Reading("bash", BASH_FORMS, not_toggles=True)


def _find_form(words: Words, forms: FormIndex) -> Action | None:
    """The action of the first count form that fits the words, or None."""
    for checks, action in forms.get(len(words), ()):
        for i, fitting in checks:
            if words[i] not in fitting:
                break
        else:
            return action
    return None


def _count_form(words: Words, forms: FormIndex) -> Tree | None:
    """The answer of a count form that gives one outright, else None."""
    action = _find_form(words, forms)
    if action is None or action in _READ_AGAIN:
        return None
    return action(words)


def read_test(args: list[str], reading: Reading) -> Tree:
    """One shell's answer, as a tree; UsageError for its usage errors."""
    negated = False
    words = list(args)
    while True:
        action = _find_form(words, reading.forms)
        if action is _negate_rest:
            negated = (not negated) if reading.not_toggles else True
            words = words[1:]
        elif action is _strip_parens:
            words = words[1:-1]
        else:
            tree = _Parser(words).parse() if action is None else action(words)
            return negate(tree) if negated else tree


# -- which argument lists are plain -----------------------------------------


def _is_word(arg: str) -> bool:
    return arg not in OPERATOR_WORDS and not arg.startswith(("(", ")"))


def is_plain(args: list[str]) -> bool:
    """True when `args` is a well-formed expression whose operands are plain words.

    expr := and ("-o" and)* ; and := not ("-a" not)* ; not := "!" not | prim ;
    prim := "(" expr ")" | UNARY word | word BINARY word | word

    The short forms POSIX fixes by argument count (PLAIN_FORMS) are plain
    whatever the operands; otherwise the parser checks the grammar, without
    evaluating anything.
    """
    if _find_form(args, _PLAIN_INDEX) is not None:
        return True
    try:
        _Parser(args, check_plain=True).parse()
    except _NotPlain:
        return False
    return True


class _NotPlain(Exception):
    """The parser, checking plainness, met an operand that is not a plain word."""


# -- the expression parser ------------------------------------------------------

_EOI, _OPERAND = "EOI", "OPERAND"


class _Parser:
    """dash's t_lex/oexpr/aexpr/nexpr/primary over a word list (None past its end).

    With check_plain, it only checks that the list is plain (every operand a
    word, nothing dash tolerates out of place) and raises _NotPlain otherwise;
    the trees it returns then mean nothing.
    """

    def __init__(self, argv: list[str], check_plain: bool = False) -> None:
        self.argv = argv
        self.wp = 0
        self.op: str | None = None  # the operator word the last lex() recognised
        self.check_plain = check_plain

    def parse(self) -> Tree:
        tree = self.oexpr(self.lex(0))
        if self.check_plain:
            self._require(self.get(self.wp + 1) is None)
        elif self.get(self.wp) is not None and self.get(self.wp + 1) is not None:
            raise UsageError(f"{self.get(self.wp)}: unexpected operator")
        return tree

    def _require(self, ok: bool) -> None:
        if not ok:
            raise _NotPlain

    def get(self, i: int) -> str | None:
        return self.argv[i] if 0 <= i < len(self.argv) else None

    def lex(self, i: int) -> str:
        word = self.get(i)
        if word is None:
            self.op = None
            return _EOI
        kind = OPERATORS.get(word)
        if (
            kind is not None
            and not (kind == _UNARY and self._is_operand(i))
            and not (word == "(" and self.get(i + 1) is None)
        ):
            self.op = word
            return word
        self.op = None
        return _OPERAND

    def _is_operand(self, i: int) -> bool:
        """dash: a unary operator word is an operand last, or before `BINARY X`."""
        nxt = self.get(i + 1)
        if nxt is None:
            return True
        if self.get(i + 2) is None:
            return False
        return OPERATORS.get(nxt) == _BINARY

    def oexpr(self, token: str) -> Tree:
        res = FALSE
        while True:
            res = either(res, self.aexpr(token))
            token = self.lex(self.wp + 1)
            if token != "-o":
                return res
            self.wp += 2
            token = self.lex(self.wp)

    def aexpr(self, token: str) -> Tree:
        res = TRUE
        while True:
            res = both(res, self.nexpr(token))
            token = self.lex(self.wp + 1)
            if token != "-a":
                return res
            self.wp += 2
            token = self.lex(self.wp)

    def nexpr(self, token: str) -> Tree:
        if token != "!":
            return self.primary(token)
        token = self.lex(self.wp + 1)
        if token != _EOI:
            self.wp += 1
        return negate(self.nexpr(token))

    def primary(self, token: str) -> Tree:
        if token == _EOI:
            self._require(not self.check_plain)  # dash: a missing operand is false
            return FALSE
        if token == "(":
            self.wp += 1
            inner = self.lex(self.wp)
            if inner == ")":
                self._require(not self.check_plain)  # dash: `( )` is false
                return FALSE
            res = self.oexpr(inner)
            self.wp += 1
            if self.lex(self.wp) != ")":
                self._require(not self.check_plain)
                raise UsageError("closing paren expected")
            return res
        if self.op is not None and OPERATORS.get(self.op) == _UNARY:
            op = self.op
            self.wp += 1
            arg = self.get(self.wp)
            if arg is None:
                self._require(not self.check_plain)
                raise UsageError(f"{op}: argument expected")
            return self._unary(op, arg)
        self.lex(self.wp + 1)
        if self.op is not None and OPERATORS.get(self.op) == _BINARY:
            return self._binop()
        word = self.get(self.wp) or ""
        self._require(not self.check_plain or _is_word(word))
        return const(word != "")

    def _binop(self) -> Tree:
        left = self.get(self.wp) or ""
        self.wp += 1
        self.lex(self.wp)
        op = self.op or ""
        self.wp += 1
        right = self.get(self.wp)
        if right is None:
            self._require(not self.check_plain)
            raise UsageError(f"{op}: argument expected")
        if self.check_plain:
            self._require(_is_word(left) and _is_word(right))
            return TRUE
        return binary(left, op, right)

    def _unary(self, op: str, arg: str) -> Tree:
        if self.check_plain:
            self._require(_is_word(arg))
            return TRUE
        return unary(op, arg)


def evaluate_tree(tree: Tree, fs: CondFS, tests: dict[Tree, bool]) -> bool:
    kind = tree[0]
    if kind == "c":
        return bool(tree[1])
    if kind == "u":
        if tree not in tests:
            tests[tree] = file_test(tree[1], tree[2], fs)
        return tests[tree]
    if kind == "!":
        return not evaluate_tree(tree[1], fs, tests)
    left = evaluate_tree(tree[1], fs, tests)
    right = evaluate_tree(tree[2], fs, tests)  # no side effects: order is free
    return (left and right) if kind == "&" else (left or right)


def file_test(op: str, path: str, fs: CondFS) -> bool:
    if op in ("-L", "-h"):
        node = fs.lookup(path, follow=False)
        return node is not None and node.kind == "link"
    if op in ("-r", "-w", "-x"):
        return fs.access(path, op[1])
    node = fs.lookup(path, follow=True)
    if node is None:
        return False
    if op == "-f":
        return node.kind == "file"
    if op == "-d":
        return node.kind == "dir"
    if op == "-s":
        return node.size > 0
    return True  # -e


def unary(op: str, arg: str) -> Tree:
    """A unary primitive: a constant for strings, a file test node otherwise."""
    if op not in NATIVE_UNARY:
        raise NotNative(f"test operator {op}")
    if op == "-n":
        return const(arg != "")
    if op == "-z":
        return const(arg == "")
    return ("u", op, arg)


def binary(left: str, op: str, right: str) -> Tree:
    """A binary primitive: decided by the words alone."""
    if op not in NATIVE_BINARY:
        raise NotNative(f"test operator {op}")
    if op in ("=", "!="):
        _plain_string(left, right)
        return const((left == right) == (op == "="))
    a, b = integer(left), integer(right)
    return const(
        {
            "-eq": a == b,
            "-ne": a != b,
            "-lt": a < b,
            "-le": a <= b,
            "-gt": a > b,
            "-ge": a >= b,
        }[op]
    )


def _plain_string(*values: str) -> None:
    # dash compares with strcoll(): only ASCII is compared bytewise in every locale.
    if not all(v.isascii() for v in values):
        raise NotNative("string comparison of non-ASCII text (locale dependent)")


def integer(text: str) -> int:
    """An integer operand as both shells read it; UsageError when it is not one."""
    dash = _DASH_INTEGER.fullmatch(text)
    bash = _BASH_INTEGER.fullmatch(text)
    if dash is None:
        raise UsageError(f"{text}: illegal number")
    if bash is None:
        raise NotNative("an integer with trailing newlines (dash accepts it, bash does not)")
    value = int(dash.group(1))
    if not INT64_MIN <= value <= INT64_MAX:
        raise UsageError(f"{text}: out of range")
    return value
