"""Conditions in a step: the root, the what-ifs, the fallback, Kairos-style configs.

Shaped as root before -> config -> which steps run, through the CLI, with
the conditions written the way Kairos' bundled cloud-configs write them
(tests/fixtures/conditions/kairos-style.yaml, our own text).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from executor.cli import main
from executor.conditions import check_step, evaluate_if
from executor.conditions.condfs import HostCondFS, RootCondFS, cond_fs_for
from executor.context import RunContext
from executor.errors import StepError
from executor.load import load_text
from executor.model import IfFiles, Step
from executor.root import DryRunRoot, Root
from executor.runner import Completed, Runner
from tests.conftest import KAIROS_CONFIGS, REPO, SEED, have, make_tree

FIXTURE = REPO / "tests/fixtures/conditions/kairos-style.yaml"
SHELL_ONLY = {"9"}


def run_fixture(root: Path, capsys: pytest.CaptureFixture[str], *what_ifs: str) -> dict[str, dict]:
    code = main(
        [
            "apply",
            "-s",
            "initramfs.after",
            "--root",
            str(root),
            "--dry-run",
            "--json",
            *what_ifs,
            str(FIXTURE),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    return {s["name"].split()[0]: s for s in report["steps"]}


SCENARIOS = {
    "bare root": (
        {"/run/cos": None, "/usr/bin/systemctl": ""},
        [],
        {"1", "7", "10"},
    ),
    "live media, installer on the cmdline, qemu": (
        {
            "/run/cos": None,
            "/usr/bin/systemctl": "",
            "/etc/hosts": "127.0.0.1 localhost\n",
            "/sys/class/dmi/id/sys_vendor": "QEMU\n",
        },
        ["--marker", "live_mode", "--cmdline", "BOOT_IMAGE=/x install-mode active.img"],
        {"1", "2", "3", "4", "5", "7", "8", "10"},
    ),
    "recovery, uki cmdline, kvm, raspberry": (
        {
            "/run/cos/recovery_mode": "",
            "/usr/bin/systemctl": "",
            "/proc/cmdline": "install-mode-interactive rd.immucore.uki active.img\n",
            "/sys/class/dmi/id/product_name": "KVM Virtual Machine\n",
            "/proc/device-tree/model": "Raspberry Pi 4 Model B\0",
            "/etc/hosts.real": "x\n",
        },
        [],
        {"5", "6", "7"},
    ),
    "uki installer, autoreset, openrc, assessed": (
        {
            "/run/cos": None,
            "/sbin/openrc": "",
            "/tmp/mnt/STATE/grubcustom": "grub_boot_assessment\n",
        },
        [
            "--marker",
            "uki_install_mode",
            "--marker",
            "autoreset_mode",
            "--cmdline",
            "nodepair.enable",
        ],
        {"2", "3"},
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kairos_style_conditions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scenario: str
) -> None:
    tree, what_ifs, expected = SCENARIOS[scenario]
    root = make_tree(tmp_path / "root", tree)
    if scenario.startswith("recovery"):
        os.symlink("hosts.real", root / "etc/hosts")
    steps = run_fixture(root, capsys, *what_ifs)
    ran = {n for n, s in steps.items() if s["status"] in ("planned", "unchanged")}
    assert ran == expected
    for number, step in steps.items():
        if number in SHELL_ONLY:
            assert step["status"] == "undecided"
            assert step["condition"]["by"] == "none" and step["condition"]["result"] is None
        elif step["condition"]["expr"]:
            assert step["condition"]["by"] == "native", step
    assert not list(root.glob("run/fixture"))  # a dry-run writes nothing


# -- the root as conditions see it ---------------------------------------------------


def ctx_for(root: Path, **kwargs: object) -> RunContext:
    return RunContext(root=Root(str(root)), runner=RecordingRunner(), **kwargs)  # type: ignore[arg-type]


def test_paths_resolve_inside_the_root(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", {"/etc/passwd": "in-root\n", "/data": None})
    os.symlink("/etc/passwd", root / "data/abs")
    os.symlink("../../../../../etc/passwd", root / "data/up")
    os.symlink("/etc/shadow", root / "data/host-only")  # exists on the host, not in the root
    ctx = ctx_for(root)
    for expr, result in [
        ("grep -qx in-root /data/abs", True),
        ("grep -qx in-root /data/up", True),
        ("[ -e /data/host-only ]", False),
        ("[ -L /data/host-only ]", True),
        ("grep -q root /data/host-only", False),
        ("[ -d /data/abs/ ]", False),
        ("[ -d /../../.. ]", True),
        ("cat /data/abs /data/up | grep -qx in-rootin-root", False),
        ("cat /data/abs /data/up | grep -c in-root", None),  # -c: outside the subset
    ]:
        cond = evaluate_if(ctx, expr)
        if result is None:
            assert cond.by in ("none", "shell") and "outside the native subset" in cond.detail
            continue
        assert (cond.by, cond.result) == ("native", result), expr


def test_the_running_system_is_read_directly_everything_else_through_the_root(
    tmp_path: Path,
) -> None:
    assert isinstance(cond_fs_for(Root("/")), HostCondFS)
    assert isinstance(cond_fs_for(DryRunRoot("/")), RootCondFS)  # sees the plan
    assert isinstance(cond_fs_for(Root("/"), ("live_mode",)), RootCondFS)  # what-ifs
    assert isinstance(cond_fs_for(Root(str(tmp_path))), RootCondFS)


def test_markers_and_cmdline_are_seen_by_conditions_and_filters(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", {"/usr/bin/systemctl": ""})
    ctx = ctx_for(root, markers=("uki_boot_mode",), cmdline="quiet kairos.reset")
    fs = RootCondFS(ctx.root, ctx.markers, ctx.cmdline)
    assert fs.lookup("/run/cos") is not None and fs.lookup("/run/cos/uki_boot_mode") is not None
    assert fs.read("/proc/cmdline") == b"quiet kairos.reset\n"
    for expr in (
        "[ -f /run/cos/uki_boot_mode ] && [ -d /run/cos ]",
        "grep -q kairos.reset /proc/cmdline",
        "cat /proc/cmdline | grep -qx 'quiet.*'",
    ):
        assert evaluate_if(ctx, expr).result is True, expr
    # a shell cannot be shown the what-ifs: undecided, never a guess
    assert evaluate_if(ctx, "grep -qw quiet /proc/cmdline").by == "none"
    step = Step(stage="boot", index=0, if_files=IfFiles(all=("/run/cos/uki_boot_mode",)))
    assert check_step(ctx, step).run is True
    assert not (root / "run").exists() and not (root / "proc").exists()


def test_dry_run_conditions_see_planned_changes(tmp_path: Path) -> None:
    root = DryRunRoot(str(tmp_path))
    root.make_dir("/etc", mode=0o755, uid=0, gid=0)
    root.write_file("/etc/flag", b"on\n", mode=0o600, uid=0, gid=0)
    ctx = RunContext(root=root)
    for expr in (
        "[ -f /etc/flag ] && [ -s /etc/flag ] && [ -r /etc/flag ]",
        "grep -qx on /etc/flag",
        "[ ! -x /etc/flag ]",
    ):
        cond = evaluate_if(ctx, expr)
        assert (cond.by, cond.result) == ("native", True), expr
    assert not (tmp_path / "etc").exists()


# -- the shell fallback -----------------------------------------------------------------


class RecordingRunner(Runner):
    """A runner that records what it would start and answers with `status`."""

    def __init__(self, status: int = 0, timed_out: bool = False) -> None:
        super().__init__()
        self.calls: list[tuple[tuple[str, ...], str | None, float]] = []
        self.status = status
        self.timed_out = timed_out

    def run(self, argv, *, timeout=300.0, chroot=None, env=None, stdin=None, label=""):  # type: ignore[no-untyped-def, override]
        self.spawned += 1
        self.calls.append((tuple(argv), chroot, timeout))
        return Completed(tuple(argv), self.status, "", self.timed_out, 0.0)


SHELL_EXPR = '[ "$(uname)" = Linux ]'


def test_fallback_runs_sh_in_the_host_root(tmp_path: Path) -> None:
    runner = RecordingRunner(status=0)
    ctx = RunContext(root=Root("/"), runner=runner, timeout=7.0)
    cond = evaluate_if(ctx, SHELL_EXPR)
    assert (cond.by, cond.result) == ("shell", True)
    assert runner.calls == [(("/bin/sh", "-c", SHELL_EXPR), None, 7.0)]


def test_fallback_chroots_into_another_root(tmp_path: Path) -> None:
    runner = RecordingRunner(status=1)
    ctx = RunContext(root=Root(str(tmp_path)), runner=runner)
    cond = evaluate_if(ctx, SHELL_EXPR)
    if os.geteuid() != 0:
        assert cond.by == "none" and runner.calls == []
        return
    assert (cond.by, cond.result) == ("shell", False)
    assert runner.calls[0][1] == os.path.realpath(tmp_path)


@pytest.mark.parametrize("kwargs", [{"dry_run": True}, {"markers": ("x",)}, {"cmdline": "a"}])
def test_fallback_never_guesses(tmp_path: Path, kwargs: dict[str, object]) -> None:
    runner = RecordingRunner()
    root = DryRunRoot(str(tmp_path)) if kwargs.pop("dry_run", False) else Root("/")
    ctx = RunContext(root=root, runner=runner, **kwargs)  # type: ignore[arg-type]
    cond = evaluate_if(ctx, SHELL_EXPR)
    assert (cond.by, cond.result) == ("none", None) and runner.calls == []
    verdict = check_step(ctx, Step(stage="boot", index=0, if_=SHELL_EXPR))
    assert verdict.run is None and "undecided" in verdict.reason


def test_fallback_timeout_fails_the_step(tmp_path: Path) -> None:
    ctx = RunContext(root=Root("/"), runner=RecordingRunner(status=-9, timed_out=True))
    with pytest.raises(StepError, match="timed out"):
        evaluate_if(ctx, SHELL_EXPR)


def test_syntax_error_is_false_without_a_shell(tmp_path: Path) -> None:
    runner = RecordingRunner()
    cond = evaluate_if(RunContext(root=Root("/"), runner=runner), "[ -e /x ] &&")
    assert (cond.by, cond.result) == ("native", False) and runner.calls == []


# -- the seed stage in a root starts no process ---------------------------------------------


def test_seed_stage_spawns_nothing_in_process(seed_root: Path) -> None:
    for markers in ((), ("uki_boot_mode",), ("recovery_mode",)):
        for m in markers:
            (seed_root / "run/cos" / m).write_text("")
        runner = RecordingRunner()
        ctx = RunContext(root=Root(str(seed_root)), runner=runner)
        result = load_text(SEED.read_text(), str(SEED))
        assert result.config is not None
        for step in result.config.stages["initramfs.after"]:
            verdict = check_step(ctx, step)
            assert verdict.condition is None or verdict.condition.by == "native"
        assert runner.spawned == 0
        for m in markers:
            (seed_root / "run/cos" / m).unlink()


@pytest.mark.subprocess
@pytest.mark.skipif(not have("strace"), reason="needs strace")
@pytest.mark.parametrize("marker", ["", "uki_boot_mode"])
def test_seed_stage_spawns_no_process_under_strace(
    seed_root: Path, tmp_path: Path, marker: str
) -> None:
    if marker:
        (seed_root / "run/cos" / marker).write_text("")
    trace = tmp_path / "trace"
    done = subprocess.run(
        [
            "strace",
            "-f",
            "-e",
            "trace=execve,clone,clone3,fork,vfork",
            "-o",
            str(trace),
            sys.executable,
            "-m",
            "executor",
            "apply",
            "-s",
            "initramfs.after",
            "--root",
            str(seed_root),
            "configs/sysext-opt.yaml",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if "PTRACE" in done.stderr or "Operation not permitted" in done.stderr:
        pytest.skip("strace cannot trace here")
    assert done.returncode == 0, done.stderr
    calls = [
        line
        for line in trace.read_text().splitlines()
        if re.search(r"\b(execve|clone3?|v?fork)\(", line)
    ]
    execs = [c for c in calls if "execve(" in c]
    assert len(execs) == 1, calls  # the interpreter itself, nothing after it
    assert not [c for c in calls if "execve(" not in c], calls
    assert (seed_root / "etc/profile.d/systemd-sysext.sh").exists()


# -- the configs Kairos ships (local copies, never committed) -----------------------------

KAIROS_DIR = KAIROS_CONFIGS


def _kairos_conditions() -> list[tuple[str, str]]:
    found = []
    for path in sorted(KAIROS_DIR.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        for steps in (doc or {}).get("stages", {}).values():
            for step in steps or []:
                if isinstance(step, dict) and step.get("if"):
                    found.append((path.name, step["if"]))
    return found


@pytest.mark.skipif(
    not list(KAIROS_DIR.glob("*.yaml")),
    reason=f"no Kairos configs in {KAIROS_DIR} (../shared beside the checkout)",
)
def test_every_shipped_kairos_condition_in_the_subset_is_native(tmp_path: Path) -> None:
    """Native unless the text needs the shell: `$(...)` or `[[`."""
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    ctx = RunContext(root=DryRunRoot(str(tmp_path)), runner=RecordingRunner())
    counts = {"native": 0, "none": 0}
    for name, expr in _kairos_conditions():
        cond = evaluate_if(ctx, expr)
        counts[cond.by] += 1
        needs_shell = "$(" in expr or "[[" in expr
        assert cond.by == ("none" if needs_shell else "native"), (name, expr, cond)
    print(f"\nKairos configs: {counts['native']} native, {counts['none']} shell-only (undecided)")
    assert counts["native"] > 0
