"""The plain command lines a boot runs, parsed without importing argparse.

Importing argparse (with gettext, locale and shutil) and building the parser
cost about a tenth of a seed `apply`'s instructions, paid a dozen times per
boot for command lines like `run-stage initramfs`. `parse_common` reads just
those: a known command, known options in their plain spelling, sources. It
returns the namespace argparse would return, or None for anything else (help,
--version, unknown, abbreviated, joined or malformed options, a missing
value, a bad number), and the caller then asks argparse, which says it
properly. It checks nothing about meaning: that is the caller's, after
parsing, whichever parser parsed.

`build_parser()` in executor/cli.py is the definition of the command line;
the tables here must agree with it, and tests/test_fastargs.py checks that
they do, by comparison with argparse's results on generated command lines.
"""

from __future__ import annotations

from types import SimpleNamespace

from executor.lock import DEFAULT_WAIT
from executor.runner import DEFAULT_TIMEOUT

TYPE_CHECKING = False  # mypy reads it as True; importing `typing` would cost start-up
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable, Sequence

# The commands a boot runs; any other (schema, a typo) goes to argparse.
COMMANDS = frozenset({"run-stage", "apply", "validate", "analyze"})

# How an option stores: a flag stores True, a value option converts the next
# argument (str keeps it as it is), an append option collects every one.
FLAG, VALUE, APPEND = "flag", "value", "append"

# option string -> (namespace attribute, how it stores, conversion)
OPTIONS: dict[str, tuple[str, str, Callable[[str], object]]] = {
    "-s": ("stage", VALUE, str),
    "--stage": ("stage", VALUE, str),
    "--root": ("root", VALUE, str),
    "--dry-run": ("dry_run", FLAG, bool),
    "--json": ("json", FLAG, bool),
    "--marker": ("marker", APPEND, str),
    "--cmdline": ("cmdline", VALUE, str),
    "--timeout": ("timeout", VALUE, float),
    "--lock-timeout": ("lock_timeout", VALUE, float),
    "--fail-fast": ("fail_fast", FLAG, bool),
    "--strict": ("strict", FLAG, bool),
    "--no-cmdline": ("no_cmdline", FLAG, bool),
    "--show-secrets": ("show_secrets", FLAG, bool),
    "-v": ("verbose", FLAG, bool),
    "--verbose": ("verbose", FLAG, bool),
}

# namespace attribute -> its value when the option is not given (lists are copied)
DEFAULTS: dict[str, object] = {
    "stage": None,
    "root": "/",
    "dry_run": False,
    "json": False,
    "marker": [],
    "cmdline": None,
    "timeout": DEFAULT_TIMEOUT,
    "lock_timeout": DEFAULT_WAIT,
    "fail_fast": False,
    "strict": False,
    "no_cmdline": False,
    "show_secrets": False,
    "verbose": False,
}


def parse_common(argv: Sequence[str]) -> Namespace | None:
    """What `build_parser().parse_intermixed_args(argv)` returns, or None to ask it."""
    values = {dest: list(v) if isinstance(v, list) else v for dest, v in DEFAULTS.items()}
    positionals: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "-" or not token.startswith("-"):  # `-` is stdin, a source
            positionals.append(token)
            continue
        option = OPTIONS.get(token)
        if option is None:  # --help, --version, --x=y, -vs, --dry, --, unknown
            return None
        dest, kind, convert = option
        if kind == FLAG:
            values[dest] = True
            continue
        value = next(tokens, None)
        if value is None or value.startswith("-"):  # missing, or argparse's call
            return None
        try:
            converted = convert(value)
        except ValueError:  # a bad number: argparse's message names the option
            return None
        if kind == APPEND:
            values[dest].append(converted)  # type: ignore[attr-defined]
        else:
            values[dest] = converted
    if not positionals or positionals[0] not in COMMANDS:
        return None
    values["command"], values["args"] = positionals[0], positionals[1:]
    # argparse's Namespace is an attribute bag like SimpleNamespace; callers
    # are type-checked against argparse's
    namespace: Namespace = SimpleNamespace(**values)  # type: ignore[assignment]
    return namespace
