"""grep and cat | grep: options, POSIX regex translation, GNU grep's statuses."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.conditions import native
from executor.conditions.condfs import CondFS, HostCondFS, RootCondFS
from executor.conditions.grep import GrepCall, parse_grep_args
from executor.conditions.posix_regex import compile_matcher
from executor.conditions.shell import NotNative, parse
from executor.root import Root
from tests.conftest import have
from tests.test_conditions_differential import LINE_CHARS, patterns

EXAMPLES = int(os.environ.get("COND_EXAMPLES", "100"))
needs_grep = pytest.mark.skipif(not (have("dash") and have("grep")), reason="needs dash, grep")


@pytest.mark.parametrize(
    ("args", "call"),
    [
        (["-q", "x", "/f"], GrepCall("x", ("/f",), quiet=True)),
        (
            ["-qiFx", "QEMU", "/a", "/b"],
            GrepCall("QEMU", ("/a", "/b"), quiet=True, ignore_case=True, whole_line=True, mode="F"),
        ),
        (["-vq", "--", "-x", "/f"], GrepCall("-x", ("/f",), quiet=True, invert=True)),
        (["-s", "-E", "a|b"], GrepCall("a|b", (), mode="E")),
    ],
)
def test_options(args: list[str], call: GrepCall) -> None:
    assert parse_grep_args(args) == call


@pytest.mark.parametrize(
    "args",
    [
        ["-e", "x", "/f"],
        ["--quiet", "x", "/f"],
        ["-c", "x", "/f"],
        ["-EF", "x", "/f"],
        ["x", "/f", "-q"],
        ["-q"],
        ["-r", "x", "/"],
        ["-w", "x", "/f"],
    ],
)
def test_options_refused(args: list[str]) -> None:
    with pytest.raises(NotNative):
        parse_grep_args(args)


@pytest.mark.parametrize(
    ("mode", "pattern"),
    [
        ("G", "\\(a\\)\\1"),
        ("G", "\\w"),
        ("G", "\\<a"),
        ("G", "a\\+"),
        ("G", "a\\|b"),
        ("G", "a\\{,2\\}"),
        ("G", "*a"),
        ("G", "^*"),
        ("G", "a^"),
        ("G", "a$b"),
        ("G", "\\(^a\\)"),
        ("G", "[[:foo:]]"),
        ("G", "[[.a.]]"),
        ("G", "[[=a=]]"),
        ("G", "[a-Z]"),
        ("G", "[z-a]"),
        ("G", "[a-c-e]"),
        ("G", "a**"),
        ("G", "\\(a*\\)*"),
        ("G", "[abc"),
        ("G", "\\(a"),
        ("G", "a\\{1"),
        ("G", "a\\{300\\}"),
        ("E", "a|"),
        ("E", "()"),
        ("E", "a{1"),
        ("E", "+a"),
        ("E", "(a|b)*"),
        ("E", "a+?"),
        ("E", "(a"),
        ("E", "a)"),
        ("E", "\\d"),
        ("F", "caf\u00e9"),
        ("G", "a\nb"),
        ("E", "(" * 100 + "a" + ")" * 100),
    ],
)
def test_patterns_refused(mode: str, pattern: str) -> None:
    with pytest.raises(NotNative):
        compile_matcher(pattern, mode=mode, ignore_case=False, whole_line=False)


@pytest.mark.parametrize(
    ("mode", "pattern", "flags", "data", "selected"),
    [
        ("G", "a.c", "", b"abc\n", True),
        ("G", "^a\\{2\\}$", "", b"aa\naaa\n", True),
        ("G", "^a\\{2\\}$", "v", b"aa\n", False),
        ("G", "a+b", "", b"aab\n", False),  # `+` is literal in a BRE
        ("G", "a+b", "", b"a+b\n", True),
        ("E", "(^| )x( |$)", "", b"a x b\n", True),
        ("E", "(^| )x( |$)", "", b"axb\n", False),
        ("F", "a.c", "", b"abc\n", False),
        ("F", "QEMU", "ix", b"qemu\n", True),
        ("F", "QEMU", "ix", b"qemu \n", False),
        ("G", "[[:upper:]]", "i", b"a\n", True),
        ("G", "[^a]", "i", b"A\n", False),
        ("G", "", "", b"", False),  # no lines at all
        ("G", "", "", b"\n", True),
        ("G", "^b", "", b"a\0b\n", True),  # NUL ends a line, as GNU grep treats binary files
        ("G", "x", "", b"a\nx", True),  # a last line without newline still counts
    ],
)
def test_matching(mode: str, pattern: str, flags: str, data: bytes, selected: bool) -> None:
    matcher = compile_matcher(pattern, mode=mode, ignore_case="i" in flags, whole_line="x" in flags)
    assert matcher.any_line_selected(data, invert="v" in flags) is selected


def test_locale_dependent_pattern_on_non_ascii_input_is_refused() -> None:
    matcher = compile_matcher("caf.", mode="G", ignore_case=False, whole_line=False)
    with pytest.raises(NotNative, match="non-ASCII"):
        matcher.any_line_selected("caf\u00e9\n".encode(), invert=False)
    literal = compile_matcher("caf", mode="G", ignore_case=False, whole_line=False)
    assert literal.any_line_selected("caf\u00e9\n".encode(), invert=False)


# -- GNU grep's exit statuses, pinned against /usr/bin/grep ----------------------------

FILES = {"a": b"foo\nbar\n", "nonl": b"x\nfoo", "empty": b"", "nul": b"bar\0foo\n", "part": b"fo"}
STATUS_CASES = [
    "grep -q foo {d}/a",
    "grep -q foo {d}/missing {d}/a",
    "grep -q foo {d}/a {d}/missing",
    "grep foo {d}/a {d}/missing",
    "grep -s foo {d}/missing",
    "grep -qs zzz {d}/a {d}/missing",
    "grep -q foo {d}/sub",
    "grep -q foo {d}/sub {d}/a",
    "grep foo {d}/sub {d}/a",
    "grep -q foo {d}/a/",
    "grep -v x {d}/empty",
    "grep '' {d}/empty",
    "grep -v '' {d}/missing",
    "grep -vx '' {d}/missing",
    "grep -q '^foo' {d}/nul",
    "grep -qv bar {d}/nul",
    "grep -qx foo {d}/nul",
    "grep -qx foo {d}/nonl",
    "cat {d}/part {d}/nonl | grep -qx fox",
    "cat {d}/sub {d}/missing | grep -q x",
    "cat {d}/missing | grep -vq x",
    "cat {d}/a | grep -q foo {d}/empty",
    "! cat {d}/a | grep -q foo",
    "grep -q foo {d}/link",
    "grep -q foo {d}/dangling",
]


@needs_grep
@pytest.mark.subprocess
@pytest.mark.parametrize("template", STATUS_CASES)
@pytest.mark.parametrize("fs", [RootCondFS(Root("/")), HostCondFS()], ids=["root", "host"])
def test_status_equals_gnu_grep(tmp_path: Path, template: str, fs: CondFS) -> None:
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "sub").mkdir()
    os.symlink("a", tmp_path / "link")
    os.symlink("missing", tmp_path / "dangling")
    expr = template.format(d=tmp_path)
    status = native.evaluate(parse(expr), fs)
    shell = subprocess.run(["dash", "-c", expr], capture_output=True, cwd="/")
    assert status == shell.returncode, expr


# -- hypothesis: random patterns and lines against GNU grep ----------------------------------

FLAG_SETS = ("", "v", "x", "i", "vx", "ix", "vi", "vix")


@st.composite
def regex_cases(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str, str]]]:
    lines = draw(st.lists(st.text(alphabet=LINE_CHARS + "\0", max_size=8), max_size=6))
    data = "\n".join(lines).encode() + (b"\n" if draw(st.booleans()) else b"")
    cases = []
    for _ in range(30):
        mode = draw(st.sampled_from("GEF"))
        cases.append((mode, draw(st.sampled_from(FLAG_SETS)), draw(patterns(mode))))
    return data, cases


@needs_grep
@pytest.mark.subprocess
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regex_cases(), st.sampled_from(("C", "C.UTF-8")))
def test_regex_matches_gnu_grep(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[bytes, list[tuple[str, str, str]]],
    locale: str,
) -> None:
    data, cases = case
    path = tmp_path_factory.mktemp("grep") / "input"
    path.write_bytes(data)
    commands = [
        f"grep -q{flags}{mode} -- {shlex.quote(pattern)} {path}" for mode, flags, pattern in cases
    ]
    script = "\n".join(f"{c}; echo $?" for c in commands)
    done = subprocess.run(
        ["dash", "-c", script],
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LC_ALL": locale},
    )
    statuses = [int(s) for s in done.stdout.split()]
    fs = RootCondFS(Root("/"))
    for command, status in zip(commands, statuses, strict=True):
        assert native.evaluate(parse(command), fs) == status, command
