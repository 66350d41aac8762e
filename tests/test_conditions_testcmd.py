"""`test` and `[`: dash's answer where bash agrees, refusal where they differ."""

from __future__ import annotations

import itertools
import os
import random
import shlex
import subprocess
from pathlib import Path

import pytest

from executor.conditions.condfs import RootCondFS
from executor.conditions.shell import NotNative
from executor.conditions.testcmd import is_plain, run_test
from executor.root import Root
from tests.conftest import have, make_tree


@pytest.fixture
def fs(tmp_path: Path) -> RootCondFS:
    make_tree(tmp_path, {"/file": "x", "/empty": "", "/dir": None})
    os.symlink("file", tmp_path / "link")
    os.symlink("missing", tmp_path / "dangling")
    os.symlink("loop", tmp_path / "loop")
    return RootCondFS(Root(str(tmp_path)))


@pytest.mark.parametrize(
    ("name", "args", "status"),
    [
        ("[", ["-e", "/file", "]"], 0),
        ("[", ["-f", "/dir", "]"], 1),
        ("[", ["-d", "/dir/", "]"], 0),
        ("[", ["-e", "/file/", "]"], 1),  # ENOTDIR
        ("[", ["-L", "/link", "]"], 0),
        ("[", ["-h", "/dangling", "]"], 0),
        ("[", ["-e", "/dangling", "]"], 1),
        ("[", ["-e", "/loop", "]"], 1),
        ("[", ["-s", "/empty", "]"], 1),
        ("[", ["-s", "/file", "]"], 0),
        ("[", ["-e", "", "]"], 1),
        ("[", ["-e", "/", "]"], 0),
        ("[", ["!", "-e", "/nothing", "]"], 0),
        ("[", ["]"], 1),
        ("[", ["x", "]"], 0),
        ("[", ["", "]"], 1),
        ("[", ["-e", "]"], 0),  # one argument: a non-empty string
        ("[", ["-e", "/file"], 2),  # missing ]
        ("[", [], 2),
        ("test", [], 1),
        ("test", ["a", "=", "a"], 0),
        ("test", ["a", "!=", "a"], 1),
        ("test", [" 7", "-eq", "007"], 0),
        ("test", ["1", "-lt", "x"], 2),
        ("test", ["9223372036854775808", "-gt", "0"], 2),  # out of range
        ("test", ["-e", "/file", "-a", "-d", "/dir"], 0),
        ("test", ["-e", "/nothing", "-o", "(", "-n", "x", ")"], 0),
    ],
)
def test_builtin(fs: RootCondFS, name: str, args: list[str], status: int) -> None:
    assert run_test(name, args, fs) == status


@pytest.mark.parametrize(
    ("name", "args", "why"),
    [
        ("[", ["-e", "/file", "]]"], "only starts with"),  # dash accepts `]]`, bash does not
        ("test", ["!", "!", "-e", "/file"], "disagree"),  # dash negates once
        ("test", ["a", "==", "a"], "not a plain expression"),
        ("test", ["a", "b"], "not a plain expression"),
        ("test", ["5\n", "-eq", "5"], "trailing newlines"),
        ("test", ["/file", "-nt", "/dir"], "operator -nt"),
        ("test", ["-t", "1"], "operator -t"),
        ("test", ["é", "=", "é"], "non-ASCII"),
        ("test", ["("] * 500 + ["x"] + [")"] * 500, "more than"),
    ],
)
def test_refused(fs: RootCondFS, name: str, args: list[str], why: str) -> None:
    with pytest.raises(NotNative, match=why):
        run_test(name, args, fs)


def test_plain_lists() -> None:
    assert is_plain([]) and is_plain(["-e"]) and is_plain(["!", "("])
    assert is_plain(["(", "-e", "x", ")", "-a", "!", "y", "=", "z"])
    assert not is_plain(["-e", "x", "-a"])
    assert not is_plain(["(", "x"])
    assert not is_plain(["-e", "=", "x", "-o", "y"])


VOCABULARY = (
    "!",
    "(",
    ")",
    "-a",
    "-o",
    "-e",
    "-n",
    "-z",
    "=",
    "!=",
    "-eq",
    "x",
    "",
    "1",
    "/etc",
    "/nonexistent",
    "==",
    ")x",
)


def shell_statuses(shell: str, cases: list[tuple[str, ...]]) -> list[int]:
    # each case in its own subshell: some argument lists crash dash 0.5.12
    script = "\n".join(f"(test {shlex.join(c)}) 2>/dev/null; echo $?" for c in cases)
    done = subprocess.run(
        [shell], input=script, capture_output=True, text=True, cwd="/", check=True
    )
    return [int(s) for s in done.stdout.split()]


@pytest.mark.subprocess
@pytest.mark.skipif(not (have("dash") and have("bash")), reason="needs dash and bash")
def test_every_short_argument_list_against_dash_and_bash() -> None:
    """All lists of up to 3 words from a vocabulary, plus random longer ones.

    A native answer must equal both shells; a refusal is fine. The long run
    (every list of up to 4 words, 20000 of 5 to 8) lives in the report.
    """
    cases: list[tuple[str, ...]] = []
    for n in range(4):
        cases += itertools.product(VOCABULARY, repeat=n)
    rng = random.Random(3)
    cases += [
        tuple(rng.choice(VOCABULARY) for _ in range(rng.randint(4, 8)))
        for _ in range(int(os.environ.get("COND_EXAMPLES", "1500")))
    ]
    dash, bash = shell_statuses("dash", cases), shell_statuses("bash", cases)
    fs = RootCondFS(Root("/"))
    native = 0
    for case, by_dash, by_bash in zip(cases, dash, bash, strict=True):
        try:
            status = run_test("test", list(case), fs)
        except NotNative:
            continue
        native += 1
        assert status == by_dash == by_bash, case
    assert native > 500
