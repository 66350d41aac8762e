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
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from executor.conditions.shell import NotNative

if TYPE_CHECKING:
    from executor.conditions.condfs import CondFS

# dash's operator table (src/bltin/test.c); bash knows every one of them too.
UNARY_OPS = frozenset({
    "-r", "-w", "-x", "-e", "-f", "-d", "-c", "-b", "-p", "-u", "-g", "-k", "-s", "-t", "-z",
    "-n", "-h", "-O", "-G", "-L", "-S",
})
BINARY_OPS = frozenset({
    "=", "!=", "<", ">", "-eq", "-ne", "-ge", "-gt", "-le", "-lt", "-nt", "-ot", "-ef",
})
# Words that are operators to dash or to bash: never a plain operand.
OPERATOR_WORDS = UNARY_OPS | BINARY_OPS | {"!", "(", ")", "-a", "-o", "==", "=~", "-v", "-R",
                                           "-N"}
NATIVE_UNARY = frozenset({"-e", "-f", "-d", "-L", "-h", "-r", "-w", "-x", "-s", "-n", "-z"})
NATIVE_BINARY = frozenset({"=", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge"})

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# dash (strtoimax, then any trailing isspace) and bash (strtoimax, then
# trailing blanks only) accept these; both skip leading isspace.
_DASH_INTEGER = re.compile(r"[ \t\n\v\f\r]*([-+]?[0-9]+)[ \t\n\v\f\r]*")
_BASH_INTEGER = re.compile(r"[ \t\n\v\f\r]*([-+]?[0-9]+)[ \t]*")


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
    if not is_plain(args):
        raise NotNative("test arguments that are not a plain expression "
                        "(an operand that looks like an operator, or a misplaced one)")
    prims = Primitives(fs)
    try:
        dash = dash_test(args, prims)
    except UsageError:
        dash = 2
    try:
        bash = 0 if bash_test(args, prims) else 1
    except UsageError:
        bash = 2
    if dash != bash:
        raise NotNative(f"dash and bash disagree on `test {' '.join(args)}`")
    return dash


# -- primitives ------------------------------------------------------------


class Primitives:
    """Unary and binary tests, evaluated once each and shared by both shells' models."""

    def __init__(self, fs: CondFS) -> None:
        self.fs = fs
        self._unary: dict[tuple[str, str], bool] = {}

    def unary(self, op: str, arg: str) -> bool:
        key = (op, arg)
        if key not in self._unary:
            self._unary[key] = self._eval_unary(op, arg)
        return self._unary[key]

    def _eval_unary(self, op: str, arg: str) -> bool:
        if op not in NATIVE_UNARY:
            raise NotNative(f"test operator {op}")
        if op == "-n":
            return arg != ""
        if op == "-z":
            return arg == ""
        if op in ("-L", "-h"):
            node = self.fs.lookup(arg, follow=False)
            return node is not None and node.kind == "link"
        if op in ("-r", "-w", "-x"):
            return self.fs.access(arg, op[1])
        node = self.fs.lookup(arg, follow=True)
        if node is None:
            return False
        if op == "-f":
            return node.kind == "file"
        if op == "-d":
            return node.kind == "dir"
        if op == "-s":
            return node.size > 0
        return True  # -e

    def binary(self, left: str, op: str, right: str) -> bool:
        if op not in NATIVE_BINARY:
            raise NotNative(f"test operator {op}")
        if op == "=":
            _plain_string(left, right)
            return left == right
        if op == "!=":
            _plain_string(left, right)
            return left != right
        a, b = integer(left), integer(right)
        return {
            "-eq": a == b,
            "-ne": a != b,
            "-lt": a < b,
            "-le": a <= b,
            "-gt": a > b,
            "-ge": a >= b,
        }[op]


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


def dash_test(args: list[str], prims: Primitives) -> int:
    """The exit status dash's `test` gives; UsageError for its usage errors."""
    res = 1
    argv = list(args)
    while True:  # dash's "recheck": a leading `!` with 3 or 4 arguments
        argc = len(argv)
        if argc < 1:
            return res
        if argc == 3 and _op_type(argv[1]) == _BINOP:
            return _dash_finish(_DashParser(argv, prims), _OPERAND, None, res)
        if argc in (3, 4):
            if argv[0] == "(" and argv[-1] == ")":
                argv = argv[1:-1]
            elif argv[0] == "!":
                res = 0
                argv = argv[1:]
                continue
        parser = _DashParser(argv, prims)
        return _dash_finish(parser, parser.lex(0), parser.op, res)


def _dash_finish(parser: _DashParser, token: str, op: str | None, res: int) -> int:
    parser.op = op
    res ^= int(parser.oexpr(token))
    if parser.get(parser.wp) is not None and parser.get(parser.wp + 1) is not None:
        raise UsageError(f"{parser.get(parser.wp)}: unexpected operator")
    return res


class _DashParser:
    """dash's t_lex/oexpr/aexpr/nexpr/primary over a word list (None past its end)."""

    def __init__(self, argv: list[str], prims: Primitives) -> None:
        self.argv = argv
        self.prims = prims
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
        if kind is not None and not (kind == _UNOP and self._is_operand(i)) \
                and not (word == "(" and self.get(i + 1) is None):
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

    def oexpr(self, token: str) -> bool:
        res = False
        while True:
            res = self.aexpr(token) or res
            token = self.lex(self.wp + 1)
            if token != "-o":
                return res
            self.wp += 2
            token = self.lex(self.wp)

    def aexpr(self, token: str) -> bool:
        res = True
        while True:
            if not self.nexpr(token):
                res = False
            token = self.lex(self.wp + 1)
            if token != "-a":
                return res
            self.wp += 2
            token = self.lex(self.wp)

    def nexpr(self, token: str) -> bool:
        if token != "!":
            return self.primary(token)
        token = self.lex(self.wp + 1)
        if token != _EOI:
            self.wp += 1
        return not self.nexpr(token)

    def primary(self, token: str) -> bool:
        if token == _EOI:
            return False
        if token == "(":
            self.wp += 1
            inner = self.lex(self.wp)
            if inner == ")":
                return False
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
            return self.prims.unary(op, arg)
        self.lex(self.wp + 1)
        if self.op is not None and _op_type(self.op) == _BINOP:
            return self._binop()
        return (self.get(self.wp) or "") != ""

    def _binop(self) -> bool:
        left = self.get(self.wp) or ""
        self.wp += 1
        self.lex(self.wp)
        op = self.op or ""
        self.wp += 1
        right = self.get(self.wp)
        if right is None:
            raise UsageError(f"{op}: argument expected")
        return self.prims.binary(left, op, right)


# -- bash's algorithm, for plain argument lists --------------------------------


def bash_test(args: list[str], prims: Primitives) -> bool:
    """The truth bash's `test` gives for a plain argument list; UsageError on its errors."""
    n = len(args)
    if n == 0:
        return False
    if n == 1:
        return args[0] != ""
    if n == 2:
        return _bash_two(args, prims)
    if n == 3:
        return _bash_three(args, prims)
    if n == 4:
        if args[0] == "!":
            return not _bash_three(args[1:], prims)
        if args[0] == "(" and args[3] == ")":
            return _bash_two(args[1:3], prims)
    return _BashExpr(args, prims).parse()


def _bash_two(args: list[str], prims: Primitives) -> bool:
    if args[0] == "!":
        return args[1] == ""
    if args[0] in UNARY_OPS:
        return prims.unary(args[0], args[1])
    raise UsageError(f"{args[0]}: unary operator expected")


def _bash_three(args: list[str], prims: Primitives) -> bool:
    if args[1] in BINARY_OPS:
        return prims.binary(args[0], args[1], args[2])
    if args[1] == "-a":
        return args[0] != "" and args[2] != ""
    if args[1] == "-o":
        return args[0] != "" or args[2] != ""
    if args[0] == "!":
        return not _bash_two(args[1:], prims)
    if args[0] == "(" and args[2] == ")":
        return args[1] != ""
    raise UsageError(f"{args[1]}: binary operator expected")


class _BashExpr:
    """or := and (-o and)* ; and := term (-a term)* ; both sides always evaluated."""

    def __init__(self, args: list[str], prims: Primitives) -> None:
        self.args = args
        self.prims = prims
        self.pos = 0

    def peek(self) -> str | None:
        return self.args[self.pos] if self.pos < len(self.args) else None

    def parse(self) -> bool:
        value = self.or_()
        if self.pos < len(self.args):
            raise UsageError("too many arguments")
        return value

    def or_(self) -> bool:
        value = self.and_()
        while self.peek() == "-o":
            self.pos += 1
            right = self.and_()
            value = value or right
        return value

    def and_(self) -> bool:
        value = self.term()
        while self.peek() == "-a":
            self.pos += 1
            right = self.term()
            value = value and right
        return value

    def term(self) -> bool:
        arg = self.peek()
        if arg is None:
            raise UsageError("argument expected")
        if arg == "!":
            self.pos += 1
            return not self.term()
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
            return self.prims.binary(left, op, right)
        if self.pos + 1 < n and arg in UNARY_OPS:
            self.pos += 2
            return self.prims.unary(arg, self.args[self.pos - 1])
        self.pos += 1
        return arg != ""

