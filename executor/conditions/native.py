"""Evaluate a parsed condition without a shell, with the shell's answer.

The evaluator works on exit statuses, as the shell does: `test` gives 0, 1 or
2 (a usage error), `&&`/`||` short-circuit on them, `!` turns 0 into 1 and
anything else into 0. Paths are looked up through a `CondFS`, which resolves
them inside the root and adds the dry-run what-ifs (markers, cmdline).
"""

from __future__ import annotations

import os
import re
from typing import Protocol

from executor.conditions.shell import (
    AndOr,
    Command,
    Group,
    Node,
    NotNative,
    Pipeline,
    Sequence,
)
from executor.root import Node as FsNode


class CondFS(Protocol):
    def lookup(self, path: str, *, follow: bool = True) -> FsNode | None: ...

    def read(self, path: str) -> bytes | None: ...


def evaluate(node: Node, fs: CondFS) -> int:
    """Exit status of `node` (0 is true)."""
    if isinstance(node, Command):
        return run_command(node.argv, fs)
    if isinstance(node, Group):
        status = evaluate(node.body, fs)
        return _negate(status) if node.negated else status
    if isinstance(node, Pipeline):
        status = run_pipeline(node, fs)
        return _negate(status) if node.negated else status
    if isinstance(node, AndOr):
        status = evaluate(node.first, fs)
        for op, item in node.rest:
            if (op == "&&") == (status == 0):
                status = evaluate(item, fs)
        return status
    if isinstance(node, Sequence):
        status = 0
        for item in node.items:
            status = evaluate(item, fs)
        return status
    raise NotNative(f"unsupported node {type(node).__name__}")  # pragma: no cover


def _negate(status: int) -> int:
    return 1 if status == 0 else 0


def run_pipeline(node: Pipeline, fs: CondFS) -> int:
    raise NotNative("pipelines")


def run_command(argv: tuple[str, ...], fs: CondFS) -> int:
    if not argv:
        return 0
    name, args = argv[0], list(argv[1:])
    if name in ("true", ":"):
        return 0
    if name == "false":
        return 1
    if name == "test":
        return test(args, fs)
    if name == "[":
        if not args or args[-1] != "]":
            return 2  # "[: missing ]"
        return test(args[:-1], fs)
    raise NotNative(f"command `{name}`")


# -- test(1) ---------------------------------------------------------------

UNARY_FILE = {"-e", "-f", "-d", "-L", "-h", "-r", "-w", "-x", "-s"}
UNARY_STRING = {"-n", "-z"}
UNARY = UNARY_FILE | UNARY_STRING
BINARY = {"=", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge"}


def test(args: list[str], fs: CondFS) -> int:
    """POSIX test with 0 to 4 arguments, as dash decides it."""
    n = len(args)
    if n == 0:
        return 1
    if n == 1:
        return 0 if args[0] else 1
    if n == 2:
        if args[0] == "!":
            return _negate(test(args[1:], fs))
        if args[0] in UNARY:
            return unary(args[0], args[1], fs)
        raise NotNative(f"test {args[0]!r} with two arguments")
    if n == 3:
        if args[1] in BINARY:
            return binary(args[0], args[1], args[2])
        if args[0] == "!":
            return _negate(test(args[1:], fs))
        if args[0] == "(" and args[2] == ")":
            return test(args[1:2], fs)
        raise NotNative("test with three arguments of this shape")
    if n == 4:
        if args[0] == "!":
            return _negate(test(args[1:], fs))
        if args[0] == "(" and args[3] == ")":
            return test(args[1:3], fs)
        raise NotNative("test with four arguments of this shape")
    raise NotNative("test with more than four arguments")


def unary(op: str, arg: str, fs: CondFS) -> int:
    if op == "-n":
        return 0 if arg else 1
    if op == "-z":
        return 0 if not arg else 1
    if not arg:
        return 1  # stat("") fails
    if op in ("-L", "-h"):
        node = fs.lookup(arg, follow=False)
        return 0 if node is not None and node.kind == "link" else 1
    node = fs.lookup(arg, follow=True)
    if node is None:
        return 1
    if op == "-e":
        return 0
    if op == "-f":
        return 0 if node.kind == "file" else 1
    if op == "-d":
        return 0 if node.kind == "dir" else 1
    if op == "-s":
        return 0 if node.size > 0 else 1
    return 0 if _access(node, op) else 1


def _access(node: FsNode, op: str) -> bool:
    """-r/-w/-x as faccessat(AT_EACCESS) answers for the effective user."""
    euid = os.geteuid()
    if euid == 0:
        if op != "-x":
            return True
        return node.kind == "dir" or bool(node.mode & 0o111)
    bit = {"-r": 4, "-w": 2, "-x": 1}[op]
    if node.uid == euid:
        return bool((node.mode >> 6) & bit)
    if node.gid == os.getegid() or node.gid in os.getgroups():
        return bool((node.mode >> 3) & bit)
    return bool(node.mode & bit)


_INTEGER = re.compile(r"[ \t\n]*[-+]?[0-9]+")


def binary(left: str, op: str, right: str) -> int:
    if op == "=":
        return 0 if left == right else 1
    if op == "!=":
        return 0 if left != right else 1
    if not (_INTEGER.fullmatch(left) and _INTEGER.fullmatch(right)):
        return 2  # "Illegal number"
    a, b = int(left), int(right)
    result = {
        "-eq": a == b,
        "-ne": a != b,
        "-lt": a < b,
        "-le": a <= b,
        "-gt": a > b,
        "-ge": a >= b,
    }[op]
    return 0 if result else 1
