"""Evaluate a parsed condition without a shell, with the shell's answer.

The evaluator works on exit statuses, as the shell does: `&&`/`||`
short-circuit on them, `!` turns 0 into 1 and anything else into 0, a list's
status is its last command's, a pipeline's is its last command's. The
commands it knows are `true`, `:`, `false`, `test`/`[` (testcmd.py), `grep`
and `cat ... | grep` (grep.py); any other raises NotNative. Paths are looked
up through a `CondFS`, which resolves them inside the root and adds the
dry-run what-ifs.
"""

from __future__ import annotations

from executor.conditions.condfs import CondFS
from executor.conditions.shell import (
    AndOr,
    Command,
    Group,
    Node,
    NotNative,
    Pipeline,
)
from executor.conditions.testcmd import run_test, usage_error


def evaluate(node: Node, fs: CondFS) -> int:
    """Exit status of `node` (0 is true)."""
    if isinstance(node, Command):
        return run_command(node.argv, fs)
    if isinstance(node, Group):
        status = evaluate(node.body, fs)
        return negate(status) if node.negated else status
    if isinstance(node, Pipeline):
        status = run_pipeline(node, fs)
        return negate(status) if node.negated else status
    if isinstance(node, AndOr):
        status = evaluate(node.first, fs)
        for op, item in node.rest:
            if (op == "&&") == (status == 0):
                status = evaluate(item, fs)
        return status
    status = 0
    for item in node.items:
        status = evaluate(item, fs)
    return status


def test_usage_errors(node: Node) -> list[str]:
    """dash's messages for every `test`/`[` in `node` that is a usage error (status 2)."""
    if isinstance(node, Command):
        name = node.argv[0] if node.argv else ""
        found = usage_error(name, list(node.argv[1:])) if name in ("test", "[") else None
        return [found] if found else []
    if isinstance(node, Group):
        return test_usage_errors(node.body)
    if isinstance(node, Pipeline):
        return [e for c in node.commands for e in test_usage_errors(c)]
    if isinstance(node, AndOr):
        return [
            e for n in (node.first, *(item for _, item in node.rest)) for e in test_usage_errors(n)
        ]
    return [e for n in node.items for e in test_usage_errors(n)]


def negate(status: int) -> int:
    return 1 if status == 0 else 0


def run_pipeline(node: Pipeline, fs: CondFS) -> int:
    """`cat FILE... | grep ...`, or a single negated command."""
    commands = node.commands
    if len(commands) == 1:
        return run_command(commands[0].argv, fs)
    if (
        len(commands) == 2
        and commands[0].argv[:1] == ("cat",)
        and commands[1].argv[:1] == ("grep",)
    ):
        from executor.conditions.grep import run_cat, run_grep  # as run_command

        data = run_cat(list(commands[0].argv[1:]), fs)
        return run_grep(list(commands[1].argv[1:]), fs, stdin=data)
    raise NotNative("a pipeline other than `cat FILE | grep ...`")


def run_command(argv: tuple[str, ...], fs: CondFS) -> int:
    if not argv:
        return 0  # only redirections
    name, args = argv[0], list(argv[1:])
    if name in ("true", ":"):
        return 0
    if name == "false":
        return 1
    if name in ("test", "["):
        return run_test(name, args, fs)
    if name == "grep":
        # grep and its POSIX regex translator only for conditions that use them
        from executor.conditions.grep import run_grep

        return run_grep(args, fs)
    raise NotNative(f"command `{name}`")
