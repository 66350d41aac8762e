"""What keeps a boot stage's start-up small stays in place, and changes nothing.

No timings here (the machines are shared and noisy; tests/bench/bench_boot.py
prints the figures). These are the checkable parts: which modules a plain
seed run imports, that the process entry point leaves with everything
written, and that the shortcuts give the standard library's results.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.cli import main
from executor.lazyre import lazy_compile
from executor.report import compact_json
from tests.conftest import REPO, SEED

# Modules a plain `apply -s initramfs.after` of the seed must not import:
# each was measured as a cost on that path and moved off it (README,
# "Boot-time budget").
NOT_ON_THE_SEED_PATH = (
    "typing",
    "argparse",
    "gettext",
    "locale",
    "shutil",
    "json",
    "string",
    "signal",
    "importlib.util",
    "warnings",
    "subprocess",
    "threading",
    "dataclasses",
    "inspect",
    "logging",
    "contextlib",
    "zlib",
    "executor.cmdline",
    "executor.conditions.grep",
    "executor.cloudconfig",
    "executor.osinfo",
)


def yaml_dir() -> str:
    spec = importlib.util.find_spec("yaml")
    assert spec is not None and spec.origin is not None
    return str(Path(spec.origin).parent.parent)


@pytest.mark.subprocess
def test_a_seed_apply_does_not_import_what_it_does_not_need(seed_root: Path) -> None:
    # -I -S: no site, no .pth files, so what the interpreter imports by itself
    # is nothing but the minimum, and whatever appears is the run's doing.
    code = (
        "import sys, io\n"
        f"sys.path[:0] = [{str(REPO)!r}, {yaml_dir()!r}]\n"
        "before = set(sys.modules)\n"
        "from executor.cli import main\n"
        "out, sys.stdout = sys.stdout, io.StringIO()\n"
        f"status = main(['apply', '-s', 'initramfs.after', '--root', {str(seed_root)!r},"
        f" {str(SEED)!r}])\n"
        "sys.stdout = out\n"
        "print(status)\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    status, imported = done.stdout.splitlines()
    assert status == "0", done.stderr
    new = set(imported.split())
    assert "executor.units" in new  # the run did enable the unit: the list is real
    assert sorted(new.intersection(NOT_ON_THE_SEED_PATH)) == []


@pytest.mark.subprocess
def test_the_entry_point_writes_everything_before_it_leaves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """os._exit skips the interpreter's flush: the entry point flushes itself."""
    assert main(["schema"]) == 0  # argparse's path, and an output larger than a buffer
    expected = capsys.readouterr().out
    assert len(expected) > 16384
    out = tmp_path / "schema.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with out.open("w") as stream:
        done = subprocess.run(
            [sys.executable, "-m", "executor", "schema"], stdout=stream, env=env, check=False
        )
    assert done.returncode == 0
    assert out.read_text() == expected


@pytest.mark.subprocess
def test_the_entry_point_keeps_the_exit_status(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    usage = subprocess.run(
        [sys.executable, "-m", "executor", "apply", "--bogus"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert usage.returncode == 2
    assert "unrecognized arguments: --bogus" in usage.stderr


@pytest.mark.subprocess
def test_output_that_cannot_be_flushed_is_exit_status_120() -> None:
    """As the interpreter's own shutdown does when it cannot flush stdout."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the flush at the end fails (EPIPE)
    code = "import sys\nfrom executor.entry import exit_now\nsys.stdout.write('x')\nexit_now(0)\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as at boot
    env["PYTHONPATH"] = str(REPO)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 120
    assert done.stderr == b""


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_compact_json_is_json_dumps(value: object) -> None:
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_compact_json_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"a": {1, 2}})
    with pytest.raises(ValueError, match="Circular reference"):
        loop: list[object] = []
        loop.append(loop)
        compact_json(loop)


def test_a_lazy_pattern_is_the_compiled_one() -> None:
    pattern = lazy_compile(r"([a-z]+)=(\d+)", 0)
    assert pattern.fullmatch("abc=12") is not None
    assert pattern.findall("a=1 b=2") == [("a", "1"), ("b", "2")]
    assert pattern.pattern == r"([a-z]+)=(\d+)"
    assert pattern.match("=1") is None


PIECES = st.sampled_from(
    [
        "[",
        "]",
        "-e",
        "-f",
        "!",
        "=",
        "!=",
        "&&",
        "||",
        "|",
        ";",
        "(",
        ")",
        ";;",
        "((",
        "|||",
        '"/run/cos/x"',
        '"a b"',
        '""',
        '"',
        "'x'",
        "a",
        "2",
        "12",
        "2>/dev/null",
        ">&2",
        "#c",
        "~",
        "a=b",
        "$x",
        '"$x"',
        '"a[b"',
        "a[b",
        "[[",
        "\t",
        "\n",
        "\r",
        "{",
        "}",
        "*",
        'x"y"',
        "\\",
        "`",
        "\u00a0",
        "é",
        "true",
        "grep",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(PIECES, st.sampled_from([" ", "  ", "", "\t", " \t"])), max_size=10))
def test_the_space_split_tokenizer_agrees_with_the_regex_one(parts: list[tuple[str, str]]) -> None:
    from executor.conditions.shell import _fast_tokenize, _split_tokenize

    text = "".join(piece + sep for piece, sep in parts)
    split = _split_tokenize(text)
    if split is not None:
        assert split == _fast_tokenize(text), text


def test_the_seed_conditions_take_the_space_split_path() -> None:
    from executor.conditions.shell import _split_tokenize

    text = SEED.read_text()
    conditions = [
        line.split("if: ", 1)[1].strip().strip("'") for line in text.splitlines() if "if: " in line
    ]
    assert conditions
    assert all(_split_tokenize(c) is not None for c in conditions)
