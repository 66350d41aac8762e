"""The boot-path behaviour that can be checked without booting:
`systemctl start` from inside a unit does not block, the journal gets one
line per step with its priority, output is line-buffered, and the dracut
module installs and enables the initramfs unit. tests/boot/ checks the same
things in a real boot.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from executor import log as log_module
from executor.apply import apply_action
from executor.context import RunContext
from executor.model import SystemctlSpec
from executor.modules.systemctl import plan_systemctl
from executor.root import Root
from executor.runner import Completed, Runner
from tests.conftest import REPO, have

DRACUT_MODULE = REPO / "systemd/dracut/99stage-executor/module-setup.sh"
INITRAMFS_UNIT = "stage-executor-initramfs.service"


class FakeRunner(Runner):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, ...]] = []

    def run(self, argv: Sequence[str], **kwargs: object) -> Completed:  # type: ignore[override]
        self.calls.append(tuple(argv))
        return Completed(tuple(argv), 0, "")


def live_calls(tmp_path: Path, spec: SystemctlSpec) -> list[tuple[str, ...]]:
    runner = FakeRunner()
    ctx = RunContext(root=Root(str(tmp_path)), runner=runner, _live=True)
    for action in plan_systemctl(ctx, spec):
        apply_action(ctx, action)
    return runner.calls


def test_start_from_inside_a_unit_is_queued_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The boot stage's own start job is running: a unit ordered after it (or
    after multi-user.target) would wait for us while we wait for it."""
    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
    calls = live_calls(tmp_path, SystemctlSpec(enable=("a",), start=("a", "late")))
    assert calls == [
        ("systemctl", "enable", "a"),
        ("systemctl", "start", "--no-block", "a"),
        ("systemctl", "start", "--no-block", "late"),
    ]


def test_start_from_a_shell_waits_for_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    assert live_calls(tmp_path, SystemctlSpec(start=("a",))) == [("systemctl", "start", "a")]


@pytest.mark.subprocess
def test_under_the_journal_every_step_has_a_line_with_its_priority(tmp_path: Path) -> None:
    """stderr is the journal when JOURNAL_STREAM names its device:inode; then each
    step gets a line as it ends, `<3>` (err) for a failed one."""
    config = tmp_path / "c.yaml"
    # `bad` writes below a file, which cannot work
    config.write_text(
        "name: c\nstages:\n  s:\n"
        "    - name: ok\n      files: [{path: /a, content: x}]\n"
        "    - name: bad\n      files: [{path: /a/b, content: x}]\n"
    )
    (tmp_path / "root").mkdir()
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err:
        st = os.fstat(err.fileno())
        env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}", PYTHONPATH=str(REPO))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "executor",
                "apply",
                "-s",
                "s",
                "--root",
                str(tmp_path / "root"),
                str(config),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
            check=False,
        )
    assert done.returncode == 1
    lines = err_path.read_text().splitlines()
    assert "<6>stage-executor: info: c.ok applied" in lines
    assert any(ln.startswith("<3>stage-executor: error: c.bad failed") for ln in lines), lines
    # not the journal: the default level hides info lines, and no prefixes
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "executor",
            "apply",
            "-s",
            "s",
            "--root",
            str(tmp_path / "root"),
            str(config),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO), JOURNAL_STREAM=""),
        check=False,
    )
    assert "c.ok" not in done.stderr
    assert "stage-executor: error: c.bad failed" in done.stderr
    assert "<3>" not in done.stderr


def test_output_is_line_buffered_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.TextIOWrapper(io.BytesIO()), io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert not out.line_buffering
    log_module.line_buffer_output()
    assert out.line_buffering and err.line_buffering


# -- the dracut module ------------------------------------------------------------------


@pytest.mark.subprocess
@pytest.mark.skipif(not have("bash"), reason="bash is not installed")
def test_dracut_module_is_valid_bash() -> None:
    done = subprocess.run(
        ["bash", "-n", str(DRACUT_MODULE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.subprocess
@pytest.mark.skipif(not (have("bash") and have("systemctl")), reason="needs bash and systemctl")
def test_dracut_module_installs_and_enables_the_unit_in_the_initrd(tmp_path: Path) -> None:
    """The module's check/install run as dracut runs them: inst_simple copies from
    the image (dracutsysrootdir) into the initrd tree, $SYSTEMCTL --root enables."""
    image, initdir = tmp_path / "image", tmp_path / "initrd"
    unitdir = "/usr/lib/systemd/system"
    (image / unitdir.lstrip("/")).mkdir(parents=True)
    initdir.mkdir()
    script = f"""
        set -e
        dracutsysrootdir={image} initdir={initdir} systemdsystemunitdir={unitdir}
        SYSTEMCTL=systemctl
        inst_simple() {{
            mkdir -p "$initdir$(dirname "$1")"; cp "$dracutsysrootdir$1" "$initdir$1"
        }}
        . {DRACUT_MODULE}
        if check; then echo included; else echo left-out; fi
        cp {REPO / "systemd" / INITRAMFS_UNIT} "$dracutsysrootdir$systemdsystemunitdir/"
        check && echo included
        [ "$(depends)" = systemd ]
        install
    """
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["left-out", "included"]
    unit = initdir / unitdir.lstrip("/") / INITRAMFS_UNIT
    assert unit.read_bytes() == (REPO / "systemd" / INITRAMFS_UNIT).read_bytes()
    link = initdir / "etc/systemd/system/initrd.target.wants" / INITRAMFS_UNIT
    assert link.is_symlink()
    assert os.readlink(link).endswith(f"/systemd/system/{INITRAMFS_UNIT}")
    assert shutil.which("systemctl")
