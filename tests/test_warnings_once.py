"""A document's warnings are printed once per boot, kept in every report (item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import make_tree

SOURCE = """stages:
  initramfs:
  - files: [{path: /etc/a, content: a, permsisions: 0600}]
  boot:
  - files: [{path: /etc/b, content: b}]
"""
WARNING = "warning: unknown key `permsisions` in file; did you mean `permissions`?"


def _run(root: Path, *args: str) -> int:
    return main([*args, "--root", str(root), "--no-cmdline"])


def test_warnings_are_printed_at_the_first_stage_of_the_boot_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path / "root", {"/oem/a.yaml": SOURCE})
    assert _run(root, "run-stage", "initramfs") == 0
    assert WARNING in capsys.readouterr().out
    assert _run(root, "run-stage", "boot") == 0
    out = capsys.readouterr().out
    assert WARNING not in out
    assert "(1 warning not repeated: an earlier run of this boot showed them;" in out
    # the report still has it, and so do validate and a dry-run
    kept = json.loads((root / "run/stage-executor/boot.json").read_text())
    assert [w["path"] for w in kept["warnings"]] == ["stages.initramfs[0].files[0].permsisions"]
    assert _run(root, "validate") == 0
    assert WARNING in capsys.readouterr().out
    assert _run(root, "run-stage", "boot", "--dry-run") == 0
    assert WARNING in capsys.readouterr().out
    # the same stage again (a reconcile timer): not repeated either
    assert _run(root, "run-stage", "boot") == 0
    assert WARNING not in capsys.readouterr().out


def test_a_new_boot_shows_them_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_tree(tmp_path / "root", {"/oem/a.yaml": SOURCE})
    assert _run(root, "run-stage", "initramfs") == 0
    capsys.readouterr()
    for kept in (root / "run/stage-executor").iterdir():  # /run is a tmpfs: gone at reboot
        kept.unlink()
    assert _run(root, "run-stage", "boot") == 0
    assert WARNING in capsys.readouterr().out


def test_a_changed_warning_is_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_tree(tmp_path / "root", {"/oem/a.yaml": SOURCE})
    assert _run(root, "run-stage", "initramfs") == 0
    capsys.readouterr()
    (root / "oem/a.yaml").write_text(SOURCE.replace("permsisions", "permisions"))
    assert _run(root, "run-stage", "boot") == 0
    assert "unknown key `permisions`" in capsys.readouterr().out
