"""The unit files in systemd/ (SPEC §8): what they say, that systemd accepts
them (`systemd-analyze verify`, offline), and that enabling them natively
makes the links systemctl makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from executor.units.install import logical_lines
from tests.conftest import REPO, have
from tests.units_oracle import diff, links, ours, theirs

UNITS = REPO / "systemd"
EXECUTOR = "/usr/bin/stage-executor"
STAGES = ("initramfs", "fs", "boot", "network", "reconcile")


def unit_files() -> list[Path]:
    return unit_files_in(UNITS)


def unit_files_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".service", ".timer"))


def settings(path: Path) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> values, in file order."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for _, line in logical_lines(path.read_text()):
        if line.startswith("["):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def words(values: list[str]) -> list[str]:
    return [w for v in values for w in v.split()]


def test_there_is_a_unit_for_every_stage() -> None:
    names = {p.name for p in unit_files()}
    assert {f"stage-executor-{s}.service" for s in STAGES} <= names
    assert "stage-executor-reconcile.timer" in names
    for stage in STAGES:
        conf = settings(UNITS / f"stage-executor-{stage}.service")
        assert conf[("Service", "ExecStart")] == [f"{EXECUTOR} run-stage {stage}"]
        assert conf[("Service", "Type")] == ["oneshot"]


def test_initramfs_unit_runs_chrooted_in_sysroot_inside_the_initrd() -> None:
    conf = settings(UNITS / "stage-executor-initramfs.service")
    assert conf[("Unit", "ConditionPathExists")] == ["/etc/initrd-release"]
    assert conf[("Unit", "DefaultDependencies")] == ["no"]
    assert "initrd-fs.target" in words(conf[("Unit", "After")])
    assert "initrd.target" in words(conf[("Unit", "Before")])
    assert conf[("Service", "RootDirectory")] == ["/sysroot"]
    assert set(words(conf[("Service", "BindPaths")])) == {"/proc", "/sys", "/dev", "/run", "/tmp"}
    assert conf[("Install", "WantedBy")] == ["initrd.target"]


def test_reconcile_timer_starts_the_reconcile_service() -> None:
    conf = settings(UNITS / "stage-executor-reconcile.timer")
    assert conf[("Timer", "Unit")] == ["stage-executor-reconcile.service"]
    assert conf[("Timer", "OnBootSec")] and conf[("Timer", "OnUnitActiveSec")]
    assert conf[("Install", "WantedBy")] == ["timers.target"]


def verifiable_copy(tmp_path: Path) -> Path:
    """The unit files, with ExecStart pointing at a stand-in when the executor is absent."""
    copy = tmp_path / "units"
    shutil.copytree(UNITS, copy)
    if not os.access(EXECUTOR, os.X_OK):
        stand_in = tmp_path / "stage-executor"
        stand_in.write_text("#!/bin/sh\nexit 0\n")
        stand_in.chmod(0o755)
        for path in unit_files_in(copy):
            path.write_text(path.read_text().replace(EXECUTOR, str(stand_in)))
    return copy


@pytest.mark.subprocess
@pytest.mark.skipif(not have("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", [p.name for p in unit_files()])
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, name: str) -> None:
    copy = verifiable_copy(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", f"./{name}"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # warnings (unknown keys ...) count too


@pytest.mark.subprocess
@pytest.mark.skipif(not have("systemctl"), reason="systemctl is not installed")
def test_enabling_the_units_makes_the_links_systemctl_makes(tmp_path: Path) -> None:
    roots = []
    for side in ("ours", "systemctl"):
        root = tmp_path / side
        shutil.copytree(
            UNITS, root / "usr/lib/systemd/system", ignore=shutil.ignore_patterns("dracut")
        )
        (root / "etc/systemd/system").mkdir(parents=True)
        roots.append(root)
    mine, real = roots
    names = [p.name for p in unit_files()]
    for verb in ("enable", "disable"):
        a, b = ours(mine, verb, *names), theirs(real, verb, *names)
        assert a.ok and b.ok, (a, b)
        assert not diff(links(mine), links(real))
    assert ours(mine, "enable", *names).ok
    assert len(links(mine)) == 5  # every unit but the timer-started reconcile service


@pytest.mark.parametrize("name", [p.name for p in unit_files() if p.suffix == ".service"])
def test_every_stage_unit_has_a_bounded_start_timeout(name: str) -> None:
    values = settings(UNITS / name).get(("Service", "TimeoutStartSec"), [])
    assert len(values) == 1, f"{name}: TimeoutStartSec= must be set once"
    assert values[0] not in ("", "0", "infinity"), f"{name}: TimeoutStartSec={values[0]}"


def test_network_stage_is_not_waited_for_by_multi_user_target() -> None:
    """A target orders itself after the units it wants unless they have
    DefaultDependencies=no (systemd.target(5)); the unit then needs the
    default dependencies of a service written out, but no network wait."""
    conf = settings(UNITS / "stage-executor-network.service")
    assert conf[("Unit", "DefaultDependencies")] == ["no"]
    assert conf[("Install", "WantedBy")] == ["multi-user.target"]
    after = words(conf[("Unit", "After")])
    assert {"sysinit.target", "basic.target", "network-online.target"} <= set(after)
    assert "stage-executor-boot.service" in after  # never queued on the lock ahead of boot
    assert words(conf[("Unit", "Requires")]) == ["sysinit.target"]
    assert words(conf[("Unit", "Conflicts")]) == ["shutdown.target"]
    assert "shutdown.target" in words(conf[("Unit", "Before")])
    assert "multi-user.target" not in words(conf[("Unit", "Before")])
