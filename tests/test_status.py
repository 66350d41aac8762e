"""The kept report answers what happened at boot; `status` reads it back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from executor import __version__
from executor.cli import main
from tests.conftest import make_tree
from tests.test_order import _root_with_shell

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SOURCE = """name: boot-cfg
stages:
  boot:
  - name: quick
    files: [{path: /etc/q, content: x}]
  - name: cmds
    commands: ["echo hi", "exit 3"]
  - name: hang
    commands: ["while :; do :; done"]
"""
FS_SOURCE = "stages:\n  fs:\n  - files: [{path: /x}]\n"


def _kept(root: Path, stage: str) -> Any:
    return json.loads((root / "run/stage-executor" / f"{stage}.json").read_text())


@pytest.fixture
def booted(tmp_path: Path) -> Path:
    """A root with a shell where `apply -s boot` ran (one step timed out)."""
    root = _root_with_shell(make_tree(tmp_path / "root", {"/oem/boot.yaml": SOURCE}))
    args = ["apply", "-s", "boot", str(root / "oem"), "--root", str(root), "--no-cmdline"]
    assert main([*args, "--timeout", "1"]) == 1
    return root


@pytest.mark.subprocess
def test_the_kept_report_has_times_version_sources_and_timeouts(
    booted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    doc = _kept(booted, "boot")
    assert doc["format"] == 1 and doc["version"] == __version__
    assert ISO.match(doc["started"]) and ISO.match(doc["finished"])
    assert doc["started"] <= doc["finished"] and doc["duration"] >= 0
    assert doc["sources"] == [str(booted / "oem/boot.yaml")]
    assert doc["what_ifs"] == {"markers": [], "cmdline": None}
    _, cmds, hang = doc["steps"]
    for step in doc["steps"]:
        assert ISO.match(step["started"]) and step["duration"] >= 0
    echo, exit3 = cmds["actions"]
    assert (echo["exit"], echo["timed_out"], echo["output"]) == (0, False, "hi\n")
    assert (exit3["exit"], exit3["timed_out"]) == (3, False)
    assert echo["duration"] >= 0
    (loop,) = hang["actions"]
    assert loop["timed_out"] is True and loop["exit"] == -9
    assert loop["duration"] >= 1
    assert hang["status"] == "failed" and "timed out" in hang["reason"]


@pytest.mark.subprocess
def test_status_lists_the_kept_reports(booted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["status", "--root", str(booted)]) == 1  # a step failed
    out = capsys.readouterr().out
    assert re.match(
        r"boot: failed, 1 applied, 2 failed \(started \S+Z, took \d+\.\d{3}s\)\n$", out
    ), out
    assert main(["status", "--root", str(booted), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    (report,) = doc["reports"]
    assert report["stage"] == "boot" and report["failed"] is True
    assert report["summary"]["failed"] == 2 and report["version"] == __version__


@pytest.mark.subprocess
def test_status_of_a_stage_shows_its_steps_and_what_took_the_time(
    booted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["status", "boot", "--root", str(booted)]) == 1
    out = capsys.readouterr().out
    assert f"apply boot in {booted} (started " in out
    assert f"  source {booted}/oem/boot.yaml\n" in out
    assert "✓ applied [boot] boot-cfg.quick [" in out
    assert "    command `exit 3`: exit 3 [" in out
    assert "    command `while :; do :; done`: timed out [" in out
    assert "    command `echo hi`" not in out  # a command that succeeded: with -v only
    slowest = out[out.index("slowest commands:") :].splitlines()[1]
    assert slowest.endswith("while :; do :; done  (boot-cfg.hang)")
    assert main(["status", "boot", "--root", str(booted), "-v"]) == 1
    assert "    command `echo hi`: exit 0 [" in capsys.readouterr().out
    # --json: the kept report as it is
    assert main(["status", "boot", "--root", str(booted), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == _kept(booted, "boot")


def test_status_without_reports_and_of_an_unknown_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path / "root", {"/oem/a.yaml": FS_SOURCE})
    assert main(["status", "--root", str(root)]) == 0
    assert "no stage has run in" in capsys.readouterr().out
    assert main(["run-stage", "fs", "--root", str(root), "--no-cmdline"]) == 0
    capsys.readouterr()
    assert main(["status", "--root", str(root)]) == 0
    assert capsys.readouterr().out.startswith("fs: done, 1 applied (started ")
    assert main(["status", "boot", "--root", str(root)]) == 1
    assert "no report for stage boot" in capsys.readouterr().err
    assert main(["status", "boot", "fs", "--root", str(root)]) == 2
    assert main(["status", "--root", str(root), "--dry-run"]) == 2


def test_a_dry_run_report_has_the_new_fields_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path / "root", {"/oem/a.yaml": FS_SOURCE})
    args = ["run-stage", "fs", "--root", str(root), "--no-cmdline", "--dry-run", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert ISO.match(doc["started"]) and doc["sources"] == ["/oem/a.yaml"]
    assert not (root / "run").exists()  # a dry-run keeps nothing
