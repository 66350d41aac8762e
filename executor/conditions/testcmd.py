"""The `test` and `[` builtins, with the answer dash gives, where bash agrees.

`/bin/sh` is dash on Debian and Ubuntu and bash on most other distributions,
so a native answer must be the one both give. The arguments are evaluated
twice over the same primitive results: once with dash's algorithm (its
recursive grammar plus the special cases POSIX prescribes for three and four
arguments, quirks included) and once with bash's. Both run only on "plain"
argument lists, where no operand looks like an operator; when the two answers
differ, or a primitive is outside the native set (`-nt`, `-t`, `<` ...), the
condition goes to the shell.

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

# dash's operator table (src/bltin/test.c); bash knows every one of them too.
UNARY_OPS = frozenset(
    {
        "-r",
        "-w",
        "-x",
        "-e",
        "-f",
        "-d",
        "-c",
        "-b",
        "-p",
        "-u",
        "-g",
        "-k",
        "-s",
        "-t",
        "-z",
        "-n",
        "-h",
        "-O",
        "-G",
        "-L",
        "-S",
    }
)
BINARY_OPS = frozenset(
    {
        "=",
        "!=",
        "<",
        ">",
        "-eq",
        "-ne",
        "-ge",
        "-gt",
        "-le",
        "-lt",
        "-nt",
        "-ot",
        "-ef",
    }
)
# Words that are operators to dash or to bash: never a plain operand.
OPERATOR_WORDS = UNARY_OPS | BINARY_OPS | {"!", "(", ")", "-a", "-o", "==", "=~", "-v", "-R", "-N"}
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
        _posix_short_form(words)
        dash_test(list(words))
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
        short = _posix_short_form(args)
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
    dash: Tree | None
    bash: Tree | None
    try:
        dash = dash_test(words)
    except UsageError:
        dash = None
    try:
        bash = bash_test(words)
    except UsageError:
        bash = None
    if dash is None and bash is None:
        return 2
    if dash is None or bash is None:
        raise NotNative(f"dash and bash disagree on `test {' '.join(args)}`")
    if dash[0] == "c" and bash[0] == "c":
        if dash != bash:
            raise NotNative(f"dash and bash disagree on `test {' '.join(args)}`")
        return 0 if dash[1] else 1
    return dash, None if bash == dash else bash


def _posix_short_form(args: tuple[str, ...]) -> Tree | None:
    """The forms POSIX fixes by argument count, which dash and bash read alike.

    `ARG`, `! ARG`, `UNARY ARG`, `ARG BINARY ARG` and `! UNARY ARG`: the common
    case, decided without running the two shells' models (the enumeration
    test holds these to both shells too).
    """
    n = len(args)
    if n == 1:
        return const(args[0] != "")
    if n == 2:
        if args[0] == "!":
            return const(args[1] == "")
        return unary(args[0], args[1]) if args[0] in UNARY_OPS else None
    if n == 3:
        if args[1] in BINARY_OPS:
            return binary(*args)
        if args[0] == "!" and args[1] in UNARY_OPS:
            return negate(unary(args[1], args[2]))
    return None


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


# -- which argument lists are plain -----------------------------------------


def _is_word(arg: str) -> bool:
    return arg not in OPERATOR_WORDS and not arg.startswith(("(", ")"))


def is_plain(args: list[str]) -> bool:
    """True when `args` is a well-formed expression whose operands are plain words.

    expr := and ("-o" and)* ; and := not ("-a" not)* ; not := "!" not | prim ;
    prim := "(" expr ")" | UNARY word | word BINARY word | word

    The short forms POSIX fixes by argument count are plain whatever the
    operands: one argument, `! ARG`, `UNARY ARG`, `ARG BINARY ARG` and
    `! ARG BINARY ARG`.
    """
    n = len(args)
    if n <= 1 or (n == 2 and (args[0] == "!" or args[0] in UNARY_OPS)):
        return True
    if (n == 3 and args[1] in BINARY_OPS) or (n == 4 and args[0] == "!" and args[2] in BINARY_OPS):
        return True
    pos = _plain_expr(args, 0)
    return pos == len(args)


def _plain_expr(args: list[str], pos: int) -> int:
    pos = _plain_and(args, pos)
    while 0 <= pos < len(args) and args[pos] == "-o":
        pos = _plain_and(args, pos + 1)
    return pos


def _plain_and(args: list[str], pos: int) -> int:
    pos = _plain_not(args, pos)
    while 0 <= pos < len(args) and args[pos] == "-a":
        pos = _plain_not(args, pos + 1)
    return pos


def _plain_not(args: list[str], pos: int) -> int:
    while 0 <= pos < len(args) and args[pos] == "!":
        pos += 1
    return _plain_primary(args, pos)


def _plain_primary(args: list[str], pos: int) -> int:
    if pos < 0 or pos >= len(args):
        return -1
    arg = args[pos]
    if arg == "(":
        end = _plain_expr(args, pos + 1)
        return end + 1 if 0 <= end < len(args) and args[end] == ")" else -1
    if arg in UNARY_OPS:
        return pos + 2 if pos + 1 < len(args) and _is_word(args[pos + 1]) else -1
    if not _is_word(arg):
        return -1
    if pos + 2 < len(args) and args[pos + 1] in BINARY_OPS:
        return pos + 3 if _is_word(args[pos + 2]) else -1
    return pos + 1


# -- dash's algorithm --------------------------------------------------------

_EOI, _OPERAND = "EOI", "OPERAND"
_UNOP, _BINOP, _BUNOP, _BBINOP, _PAREN = "UNOP", "BINOP", "BUNOP", "BBINOP", "PAREN"


def _op_type(word: str | None) -> str | None:
    if word is None:
        return None
    if word in UNARY_OPS:
        return _UNOP
    if word in BINARY_OPS:
        return _BINOP
    if word == "!":
        return _BUNOP
    if word in ("-a", "-o"):
        return _BBINOP
    if word in ("(", ")"):
        return _PAREN
    return None


def dash_test(args: list[str]) -> Tree:
    """What dash's `test` answers, as a tree; UsageError for its usage errors."""
    negated = False  # dash's `res = 0`: set, not toggled, by each leading `!`
    argv = list(args)
    while True:  # dash's "recheck": a leading `!` with 3 or 4 arguments
        argc = len(argv)
        if argc < 1:
            return const(negated)
        if argc == 3 and _op_type(argv[1]) == _BINOP:
            return _dash_finish(_DashParser(argv), _OPERAND, None, negated)
        if argc in (3, 4):
            if argv[0] == "(" and argv[-1] == ")":
                argv = argv[1:-1]
            elif argv[0] == "!":
                negated = True
                argv = argv[1:]
                continue
        parser = _DashParser(argv)
        return _dash_finish(parser, parser.lex(0), parser.op, negated)


def _dash_finish(parser: _DashParser, token: str, op: str | None, negated: bool) -> Tree:
    parser.op = op
    tree = parser.oexpr(token)
    if parser.get(parser.wp) is not None and parser.get(parser.wp + 1) is not None:
        raise UsageError(f"{parser.get(parser.wp)}: unexpected operator")
    return negate(tree) if negated else tree


class _DashParser:
    """dash's t_lex/oexpr/aexpr/nexpr/primary over a word list (None past its end)."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.wp = 0
        self.op: str | None = None  # the operator word the last lex() recognised

    def get(self, i: int) -> str | None:
        return self.argv[i] if 0 <= i < len(self.argv) else None

    def lex(self, i: int) -> str:
        word = self.get(i)
        if word is None:
            self.op = None
            return _EOI
        kind = _op_type(word)
        if (
            kind is not None
            and not (kind == _UNOP and self._is_operand(i))
            and not (word == "(" and self.get(i + 1) is None)
        ):
            self.op = word
            return word
        self.op = None
        return _OPERAND

    def _is_operand(self, i: int) -> bool:
        nxt = self.get(i + 1)
        if nxt is None:
            return True
        if self.get(i + 2) is None:
            return False
        return _op_type(nxt) == _BINOP

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
            return FALSE
        if token == "(":
            self.wp += 1
            inner = self.lex(self.wp)
            if inner == ")":
                return FALSE
            res = self.oexpr(inner)
            self.wp += 1
            if self.lex(self.wp) != ")":
                raise UsageError("closing paren expected")
            return res
        if self.op is not None and _op_type(self.op) == _UNOP:
            op = self.op
            self.wp += 1
            arg = self.get(self.wp)
            if arg is None:
                raise UsageError(f"{op}: argument expected")
            return unary(op, arg)
        self.lex(self.wp + 1)
        if self.op is not None and _op_type(self.op) == _BINOP:
            return self._binop()
        return const((self.get(self.wp) or "") != "")

    def _binop(self) -> Tree:
        left = self.get(self.wp) or ""
        self.wp += 1
        self.lex(self.wp)
        op = self.op or ""
        self.wp += 1
        right = self.get(self.wp)
        if right is None:
            raise UsageError(f"{op}: argument expected")
        return binary(left, op, right)


# -- bash's algorithm, for plain argument lists --------------------------------


def bash_test(args: list[str]) -> Tree:
    """What bash's `test` answers for a plain argument list; UsageError on its errors."""
    n = len(args)
    if n == 0:
        return FALSE
    if n == 1:
        return const(args[0] != "")
    if n == 2:
        return _bash_two(args)
    if n == 3:
        return _bash_three(args)
    if n == 4:
        if args[0] == "!":
            return negate(_bash_three(args[1:]))
        if args[0] == "(" and args[3] == ")":
            return _bash_two(args[1:3])
    return _BashExpr(args).parse()


def _bash_two(args: list[str]) -> Tree:
    if args[0] == "!":
        return const(args[1] == "")
    if args[0] in UNARY_OPS:
        return unary(args[0], args[1])
    raise UsageError(f"{args[0]}: unary operator expected")


def _bash_three(args: list[str]) -> Tree:
    if args[1] in BINARY_OPS:
        return binary(args[0], args[1], args[2])
    if args[1] == "-a":
        return const(args[0] != "" and args[2] != "")
    if args[1] == "-o":
        return const(args[0] != "" or args[2] != "")
    if args[0] == "!":
        return negate(_bash_two(args[1:]))
    if args[0] == "(" and args[2] == ")":
        return const(args[1] != "")
    raise UsageError(f"{args[1]}: binary operator expected")


class _BashExpr:
    """or := and (-o and)* ; and := term (-a term)*."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.pos = 0

    def peek(self) -> str | None:
        return self.args[self.pos] if self.pos < len(self.args) else None

    def parse(self) -> Tree:
        value = self.or_()
        if self.pos < len(self.args):
            raise UsageError("too many arguments")
        return value

    def or_(self) -> Tree:
        value = self.and_()
        while self.peek() == "-o":
            self.pos += 1
            value = either(value, self.and_())
        return value

    def and_(self) -> Tree:
        value = self.term()
        while self.peek() == "-a":
            self.pos += 1
            value = both(value, self.term())
        return value

    def term(self) -> Tree:
        arg = self.peek()
        if arg is None:
            raise UsageError("argument expected")
        if arg == "!":
            self.pos += 1
            return negate(self.term())
        if arg == "(":
            self.pos += 1
            value = self.or_()
            if self.peek() != ")":
                raise UsageError("`)' expected")
            self.pos += 1
            return value
        n = len(self.args)
        if self.pos + 2 < n and self.args[self.pos + 1] in BINARY_OPS:
            left, op, right = self.args[self.pos : self.pos + 3]
            self.pos += 3
            return binary(left, op, right)
        if self.pos + 1 < n and arg in UNARY_OPS:
            self.pos += 2
            return unary(arg, self.args[self.pos - 1])
        self.pos += 1
        return const(arg != "")
