"""The README's example outputs are real: each is re-run here and compared.

They cover the validate output and the dry-run diff. The examples name
/tmp/broken.yaml and /tmp/root; the test runs in tmp_path and maps its paths
back to those names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import REPO

README = REPO / "README.md"


def example(command_prefix: str) -> tuple[str, list[str]]:
    """The `$ COMMAND` line starting with `command_prefix` and the output under it."""
    blocks: list[list[str]] = []
    inside = False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    for lines in blocks:
        if lines and lines[0].startswith(f"$ {command_prefix}"):
            return lines[0][2:], lines[1:]
    raise AssertionError(f"no README example starting with {command_prefix!r}")


def test_validate_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command, shown = example("stage-executor validate")
    assert command == "stage-executor validate /tmp/broken.yaml"
    broken = tmp_path / "broken.yaml"
    shutil.copy(REPO / "tests/fixtures/broken/demo.yaml", broken)
    # --root: an empty root has no /proc/cmdline to add sources (the host's might)
    assert main(["validate", "--root", str(tmp_path), str(broken)]) == 1
    out = capsys.readouterr().out.replace(str(broken), "/tmp/broken.yaml")
    assert out.splitlines() == shown


def test_dry_run_example(seed_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command, shown = example("stage-executor apply -s initramfs.after")
    args = command.split()[1:]
    args[args.index("/tmp/root")] = str(seed_root)
    assert "--dry-run" in args
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == shown
