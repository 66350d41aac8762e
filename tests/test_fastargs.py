"""The fast command-line parser agrees with argparse, or declines.

argparse (`build_parser()`) is the definition; `parse_common` is a shortcut
for the plain command lines a boot runs. The oracle is argparse itself: for
every command line, generated or typical, the shortcut either declines (None)
or returns exactly argparse's namespace, and it declines whenever argparse
refuses.
"""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor import fastargs
from executor.cli import UsageError, build_parser
from executor.fastargs import parse_common


def argparse_result(argv: list[str]) -> argparse.Namespace | None:
    """argparse's namespace, or None when it refuses (or prints help/version)."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return build_parser().parse_intermixed_args(argv)
    except (UsageError, SystemExit):
        return None


def comparable(namespace: argparse.Namespace) -> list[tuple[str, str, str]]:
    # repr, so that a NaN timeout compares equal to itself; type, so 1 != 1.0
    return sorted((k, type(v).__name__, repr(v)) for k, v in vars(namespace).items())


def assert_agrees(argv: list[str]) -> None:
    fast = parse_common(argv)
    if fast is None:
        return
    slow = argparse_result(argv)
    assert slow is not None, f"argparse refuses {argv!r} but the fast parser accepted it"
    assert comparable(fast) == comparable(slow), argv


def optional_actions() -> list[argparse.Action]:
    skipped = (argparse._HelpAction, argparse._VersionAction)
    return [a for a in build_parser()._actions if a.option_strings and not isinstance(a, skipped)]


def test_the_option_table_is_argparse_s() -> None:
    """Same option strings, attributes, storing kinds, conversions and defaults."""
    kinds = {
        argparse._StoreTrueAction: fastargs.FLAG,
        argparse._StoreAction: fastargs.VALUE,
        argparse._AppendAction: fastargs.APPEND,
    }
    expected = {}
    for action in optional_actions():
        kind = kinds[type(action)]
        convert = bool if kind == fastargs.FLAG else (action.type or str)
        for option in action.option_strings:
            expected[option] = (action.dest, kind, convert)
    assert expected == fastargs.OPTIONS
    defaults = {a.dest: a.default for a in optional_actions()}
    assert defaults == fastargs.DEFAULTS


def test_the_commands_are_argparse_s() -> None:
    (command,) = [a for a in build_parser()._actions if a.dest == "command"]
    assert command.choices is not None
    assert set(command.choices) >= fastargs.COMMANDS


TYPICAL = [
    ["run-stage", "initramfs"],
    ["run-stage", "boot"],
    ["apply", "-s", "initramfs.after", "configs/sysext-opt.yaml", "--root", "/tmp/r"],
    [
        "apply",
        "-s",
        "initramfs.after",
        "--root",
        "/tmp/r",
        "--dry-run",
        "--marker",
        "uki_boot_mode",
        "--marker",
        "recovery_mode",
        "configs/sysext-opt.yaml",
        "--json",
    ],
    ["run-stage", "initramfs", "configs", "--root", "/r", "--dry-run", "--cmdline", "rd.x=1"],
    ["validate", "-", "configs", "--strict", "-v"],
    ["analyze", "initramfs", "--root", "/tmp/r", "--no-cmdline"],
    ["apply", "--stage", "boot", "--timeout", "12.5", "--lock-timeout", "0", "--fail-fast", "a"],
    ["validate"],
    ["apply", "-s", "boot"],  # argparse accepts it; "needs a SOURCE" is the caller's check
]


@pytest.mark.parametrize("argv", TYPICAL)
def test_a_boot_s_command_lines_take_the_fast_path(argv: list[str]) -> None:
    fast = parse_common(argv)
    assert fast is not None
    slow = argparse_result(argv)
    assert slow is not None
    assert comparable(fast) == comparable(slow)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["apply", "-h"],
        ["--version"],
        ["schema"],
        ["status"],
        ["bogus"],
        ["apply", "--dry"],
        ["apply", "--root=/r"],
        ["apply", "-sboot"],
        ["apply", "-vs", "x"],
        ["apply", "-s"],
        ["apply", "-s", "-"],
        ["apply", "--", "x"],
        ["apply", "--timeout", "x"],
        ["apply", "--timeout", "-1"],
        ["apply", "--json=1"],
        ["-s", "x"],
    ],
)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert parse_common(argv) is None


TOKENS = st.sampled_from(
    [
        "run-stage",
        "apply",
        "validate",
        "analyze",
        "schema",
        "status",
        "bogus",
        *fastargs.OPTIONS,
        "--dry",
        "--ti",
        "--no",
        "--verb",
        "-h",
        "--help",
        "--version",
        "--root=/x",
        "--root=",
        "--timeout=5",
        "-sboot",
        "-vs",
        "--json=1",
        "--",
        "-",
        "-x",
        "x",
        "",
        "/r",
        "a b",
        "boot",
        "1",
        "1.5",
        "-1",
        "-1.5",
        "nan",
        "inf",
        "-inf",
        " 2 ",
        "1_0",
        "1e3",
        "abc",
        "\u0663",
        "0x10",
        "--=x",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(TOKENS, max_size=8))
def test_the_fast_parser_equals_argparse_or_declines(argv: list[str]) -> None:
    assert_agrees(argv)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=6))
def test_the_fast_parser_on_arbitrary_text(argv: list[str]) -> None:
    assert_agrees(argv)


def test_the_default_list_is_not_shared() -> None:
    first = parse_common(["apply", "--marker", "a"])
    second = parse_common(["apply"])
    assert first is not None and second is not None
    assert first.marker == ["a"] and second.marker == []
    assert fastargs.DEFAULTS["marker"] == []
