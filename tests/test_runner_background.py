"""A command that leaves a process in the background does not hold the boot."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import make_tree
from tests.test_order import _root_with_shell


def _copy_tool(root: Path, name: str) -> None:
    """The host's `name`, and the libraries it needs, into the root."""
    tool = shutil.which(name)
    if tool is None:
        pytest.skip(f"needs {name}")
    needed = [os.path.realpath(tool)]
    ldd = subprocess.run(["ldd", tool], capture_output=True, text=True, check=False)
    needed += [w for line in ldd.stdout.splitlines() for w in line.split() if w.startswith("/")]
    for path in needed:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copy2(path, target)
    link = root / "bin" / name
    if not link.exists():
        shutil.copy2(os.path.realpath(tool), link)


@pytest.mark.subprocess
def test_a_backgrounded_process_is_not_waited_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _root_with_shell(
        make_tree(
            tmp_path / "root",
            {
                "/oem/a.yaml": "stages:\n  boot:\n  - name: bg\n    commands:\n"
                "    - 'echo before; sleep 60 & echo $! > /bg.pid; echo after'\n"
                "  - name: next\n    files: [{path: /etc/next, content: x}]\n",
            },
        )
    )
    _copy_tool(root, "sleep")
    # dash points a background job's stdin at /dev/null
    (root / "dev").mkdir()
    os.mknod(root / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    try:
        args = ["run-stage", "boot", "--root", str(root), "--no-cmdline", "-v", "--json"]
        assert main(args) == 0
        captured = capsys.readouterr()
        # the run is over while the background sleep still holds the output pipe
        pid = int((root / "bg.pid").read_text())
        os.kill(pid, 0)
        assert (
            "not waiting for output after the command exited (a background process"
            " still holds its stdout/stderr)" in captured.err
        )
        (bg, nxt) = json.loads(captured.out)["steps"]
        (action,) = bg["actions"]
        assert (action["exit"], action["output"]) == (0, "before\nafter\n")
        assert nxt["status"] == "applied"
    finally:
        pidfile = root / "bg.pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


@pytest.mark.subprocess
def test_output_is_read_to_its_end_when_nothing_is_left_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done"
    root = _root_with_shell(
        make_tree(
            tmp_path / "root",
            {
                "/oem/a.yaml": f"stages:\n  boot:\n  - commands: ['{big}']\n",
            },
        )
    )
    args = ["run-stage", "boot", "--root", str(root), "--no-cmdline", "-v", "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "not waiting for output" not in captured.err
    output = json.loads(captured.out)["steps"][0]["actions"][0]["output"]
    assert output.endswith("line2999\n")
