"""A real boot of a Debian 12 machine with stage-executor installed (tests/boot/bootvm.py).

Three boots of one image under qemu: a first boot, a second boot of the same
disk, and a UKI-mode boot of a fresh disk whose marker comes from a kernel
command-line step. The evidence is what the guest's report unit collected
(systemctl, systemd-analyze, journalctl, the stage reports, the file tree).

Needs root, debootstrap, qemu-system-x86_64 and mkfs.ext4 (apt-get install
debootstrap qemu-system-x86 e2fsprogs), and Debian's mirror through apt's
configuration. Skips, saying why, when they are missing; `.ci/run` installs
them and sets STAGE_EXECUTOR_BOOT_REQUIRED=1, which turns the skip into a
failure. The base image is cached in /var/cache/stage-executor-boot
(STAGE_EXECUTOR_BOOT_CACHE); a cold run took 11.5 minutes under TCG on the
2-core development machine, a warm one 6. Runs only when selected
(`-m boot`), not in the plain `python3 -m pytest -q`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.boot import bootvm

pytestmark = [pytest.mark.boot, pytest.mark.subprocess]

SYSEXT_DROPINS = "/etc/systemd/system/systemd-sysext.service.d"
SEED_STEPS = (
    "sysext using /opt.systemd-sysext uki config",
    "sysext using /opt.systemd-sysext config",
    "sysext using /opt.systemd-sysext set hierarchy system-wide",
    "sysext using /opt.systemd-sysext initramfs settings",
)


def _why_not() -> str:
    if sys.platform != "linux":
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, a root-owned guest tree)"
    missing = bootvm.missing_tools()
    if missing:
        return (
            f"missing {', '.join(missing)}: apt-get install debootstrap qemu-system-x86"
            " e2fsprogs util-linux"
        )
    return ""


@pytest.fixture(scope="module")
def boots(request: pytest.FixtureRequest) -> Iterator[bootvm.Run]:
    if "boot" not in (request.config.option.markexpr or ""):
        pytest.skip("the boot test runs when selected: python3 -m pytest -m boot tests/boot")
    earlier = os.environ.get("STAGE_EXECUTOR_BOOT_EVIDENCE")
    if earlier:  # assertions against the evidence of an earlier `bootvm.py --out DIR`
        yield bootvm.load_run(Path(earlier))
        return
    why = _why_not()
    if why and os.environ.get("STAGE_EXECUTOR_BOOT_REQUIRED"):
        pytest.fail(f"boot test required (STAGE_EXECUTOR_BOOT_REQUIRED) but cannot run: {why}")
    if why:
        print(f"\nBOOT TEST SKIPPED: {why}", file=sys.stderr)
        pytest.skip(f"boot test: {why}")
    # Kept after the run (consoles, evidence), outside pytest's rotating temp dirs.
    out = Path(os.environ.get("STAGE_EXECUTOR_BOOT_OUT", bootvm.DEFAULT_CACHE / "last-run"))
    shutil.rmtree(out, ignore_errors=True)
    # Progress, timings and blame figures go to the terminal as they come:
    # minutes of a silent CI log are worse than a noisy one.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        run = bootvm.boot_all(out)
    yield run


@pytest.fixture(scope="module")
def first(boots: bootvm.Run) -> bootvm.Boot:
    return booted(boots.first)


@pytest.fixture(scope="module")
def second(boots: bootvm.Run) -> bootvm.Boot:
    return booted(boots.second)


@pytest.fixture(scope="module")
def uki(boots: bootvm.Run) -> bootvm.Boot:
    return booted(boots.uki)


def booted(boot: bootvm.Boot) -> bootvm.Boot:
    """The boot reached the report unit; else show the end of its console."""
    if "is-system-running.txt" not in boot.evidence:
        console = boot.out / "console.log"
        tail = console.read_text(errors="replace")[-6000:] if console.exists() else ""
        pytest.fail(
            f"{boot.name} boot left no evidence (no power-off by the report unit);"
            f" console tail:\n{tail}"
        )
    return boot


def show(boot: bootvm.Boot, unit: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in boot.text(f"show-{unit}.txt").splitlines():
        key, _, value = line.partition("=")
        props[key] = value
    return props


def journal(boot: bootvm.Boot, name: str = "journal.json") -> list[dict[str, Any]]:
    return [json.loads(line) for line in boot.text(name).splitlines() if line.startswith("{")]


def report(boot: bootvm.Boot, stage: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(boot.text(f"reports/{stage}.json"))
    return doc


def tree(boot: bootvm.Boot) -> dict[str, tuple[str, str, str]]:
    """path -> (type, octal mode, link target) from the guest's `find -printf`."""
    out = {}
    for line in boot.text("tree.txt").splitlines():
        m = re.match(r"(\S) (\d+) (\S+) (\S+) (\S+) -> (.*)$", line)
        if m:
            kind, mode, _user, _group, path, target = m.groups()
            out[path] = (kind, mode, target)
    return out


# -- the initramfs stage, in the initrd ------------------------------------------------


def test_initramfs_unit_ran_in_the_initrd_chrooted_in_sysroot(first: bootvm.Boot) -> None:
    where = dict(line.split("=", 1) for line in first.text("probe/initramfs-where").splitlines())
    assert where["pid1-initrd"] == "yes"  # PID 1 was the initrd's systemd
    assert where["self-initrd"] == "no"  # ... and the stage did not see the initrd's /
    assert where["root"] == where["pid1-sysroot"]  # its / was PID 1's /sysroot
    assert where["ID"] == "debian"
    assert where["executable"] == "/usr/bin/stage-executor"  # the real root's program
    entries = journal(first)
    unit = [
        e
        for e in entries
        if e.get("_SYSTEMD_UNIT") == "stage-executor-initramfs.service"
        or e.get("UNIT") == "stage-executor-initramfs.service"
    ]
    assert unit, "no journal entry of the initramfs unit"
    switch = [
        int(e["__MONOTONIC_TIMESTAMP"])
        for e in entries
        if "Switching root" in str(e.get("MESSAGE", ""))
    ]
    assert switch, "the journal shows no switch-root"
    assert max(int(e["__MONOTONIC_TIMESTAMP"]) for e in unit) < switch[0]


def test_initramfs_report_says_what_ran(first: bootvm.Boot) -> None:
    doc = report(first, "initramfs")
    assert doc["command"] == "run-stage" and doc["stage"] == "initramfs"
    assert doc["dry_run"] is False and doc["root"] == "/"
    status = {s["name"]: s["status"] for s in doc["steps"] if s["source"] == "/oem/sysext-opt.yaml"}
    assert status == {
        "systemd-sysext uki config": "skipped",
        "systemd-sysext config": "applied",
        "systemd-sysext set hierarchy system-wide": "applied",
        "systemd-sysext initramfs settings": "applied",
    }
    assert doc["summary"]["failed"] == 0


def test_seed_drop_ins_are_in_the_real_root_with_0644(first: bootvm.Boot) -> None:
    t = tree(first)
    assert t[f"{SYSEXT_DROPINS}/kairos.conf"][:2] == ("f", "644")
    assert f"{SYSEXT_DROPINS}/kairos-uki.conf" not in t
    assert t["/etc/profile.d/systemd-sysext.sh"][:2] == ("f", "644")
    assert t[SYSEXT_DROPINS][:2] == ("d", "755")


def test_systemd_sysext_is_enabled(first: bootvm.Boot) -> None:
    kind, _, target = tree(first)["/etc/systemd/system/sysinit.target.wants/systemd-sysext.service"]
    assert kind == "l"
    assert target.endswith("/systemd/system/systemd-sysext.service")
    assert show(first, "systemd-sysext.service")["UnitFileState"] == "enabled"


# -- fs, boot and network on the running system --------------------------------------


@pytest.mark.parametrize("stage", ["fs", "boot", "network"])
def test_stage_unit_succeeded(first: bootvm.Boot, stage: str) -> None:
    props = show(first, f"stage-executor-{stage}.service")
    assert props["ActiveState"] == "active" and props["Result"] == "success", props
    doc = report(first, stage)
    assert doc["summary"]["failed"] == 0 and not doc["errors"], doc


def test_boot_stage_enabled_and_started_a_unit_with_the_real_systemctl(first: bootvm.Boot) -> None:
    doc = report(first, "boot")
    commands = [a["command"] for s in doc["steps"] for a in s["actions"] if a.get("command")]
    assert "systemctl enable boot-test-hello.service" in commands
    # started from inside a unit: queued, so a unit ordered after multi-user.target
    # (which waits for this stage) does not deadlock
    # one call per unit, as yip makes them
    assert "systemctl start --no-block boot-test-hello.service" in commands
    assert "systemctl start --no-block boot-test-late.service" in commands
    assert first.text("hello-enabled.txt").strip() == "enabled"
    for unit in ("boot-test-hello.service", "boot-test-late.service"):
        assert show(first, unit)["ActiveState"] == "active", unit
    assert first.text("probe/hello-started") and first.text("probe/late-started")


def test_fs_and_network_stages_wrote_their_marks(first: bootvm.Boot) -> None:
    assert tree(first)["/etc/boot-test/fs-stage"][:2] == ("f", "644")
    assert first.text("probe/network-stage") == "network stage ran\n"


def test_network_stage_is_off_the_critical_chain(first: bootvm.Boot) -> None:
    chain = first.text("critical-chain.txt")
    assert "multi-user.target" in chain
    assert "stage-executor-network.service" not in chain


def test_fs_stage_finished_before_sysinit_target(first: bootvm.Boot) -> None:
    fs = show(first, "stage-executor-fs.service")
    sysinit = show(first, "sysinit.target")
    assert (
        0
        < int(fs["ExecMainExitTimestampMonotonic"])
        <= int(sysinit["ActiveEnterTimestampMonotonic"])
    )


def test_boot_and_network_stages_do_not_wait_for_each_other(first: bootvm.Boot) -> None:
    """Both take the executor's lock on /: network is ordered after boot."""
    boot = show(first, "stage-executor-boot.service")
    network = show(first, "stage-executor-network.service")
    assert int(network["ExecMainStartTimestampMonotonic"]) >= int(
        boot["ExecMainExitTimestampMonotonic"]
    )
    assert not [
        e
        for e in journal(first)
        if "waiting for another stage-executor" in str(e.get("MESSAGE", ""))
    ]


def test_no_failed_units(first: bootvm.Boot, second: bootvm.Boot, uki: bootvm.Boot) -> None:
    for boot in (first, second, uki):
        assert boot.text("failed.txt").strip() == "", (boot.name, boot.text("failed.txt"))
        assert boot.text("is-system-running.txt").strip() == "running", boot.name


def test_unit_start_timeouts_are_bounded(first: bootvm.Boot) -> None:
    for stage in ("fs", "boot", "network"):
        usec = show(first, f"stage-executor-{stage}.service")["TimeoutStartUSec"]
        assert usec not in ("infinity", "0"), (stage, usec)


# -- journal fidelity -------------------------------------------------------------------


def test_a_failed_step_reaches_the_journal_at_priority_err(first: bootvm.Boot) -> None:
    assert "exit=1" in first.text("failprobe.txt")  # the step failed, so did the run
    errs = [
        e
        for e in journal(first, "journal-err.json")
        if e.get("_SYSTEMD_UNIT") == "boot-test-failprobe.service"
    ]
    messages = [str(e.get("MESSAGE", "")) for e in errs]
    assert any("failprobe.must-fail failed" in m for m in messages), messages
    assert all(int(e["PRIORITY"]) <= 3 for e in errs)


def test_each_step_line_has_its_own_time(first: bootvm.Boot) -> None:
    when = {
        str(e.get("MESSAGE", "")): int(e["__REALTIME_TIMESTAMP"])
        for e in journal(first)
        if e.get("_SYSTEMD_UNIT") == "boot-test-failprobe.service"
    }
    quick = next(t for m, t in when.items() if "failprobe.quick applied" in m)
    slow = next(t for m, t in when.items() if "failprobe.slow applied" in m)
    # `slow` sleeps 2 s: its line came 2 s after `quick`'s, not with it at exit
    assert slow - quick >= 1_900_000


# -- the second boot and the UKI boot -------------------------------------------------------


def test_second_boot_leaves_the_seed_steps_unchanged(second: bootvm.Boot) -> None:
    doc = report(second, "initramfs")
    status = {s["name"]: s["status"] for s in doc["steps"] if s["source"] == "/oem/sysext-opt.yaml"}
    assert status == {
        "systemd-sysext uki config": "skipped",
        "systemd-sysext config": "unchanged",
        "systemd-sysext set hierarchy system-wide": "unchanged",
        "systemd-sysext initramfs settings": "unchanged",
    }


def test_uki_boot_writes_only_the_uki_drop_in(uki: bootvm.Boot) -> None:
    assert "stages.initramfs.before[0].files[0].path=/run/cos/uki_boot_mode" in uki.text(
        "cmdline.txt"
    )
    t = tree(uki)
    assert t["/run/cos/uki_boot_mode"][0] == "f"
    drop_ins = sorted(p for p in t if p.startswith(SYSEXT_DROPINS + "/"))
    assert drop_ins == [f"{SYSEXT_DROPINS}/kairos-uki.conf"]
    assert t[f"{SYSEXT_DROPINS}/kairos-uki.conf"][:2] == ("f", "644")
    doc = report(uki, "initramfs")
    status = {s["name"]: s["status"] for s in doc["steps"] if s["source"] == "/oem/sysext-opt.yaml"}
    assert status["systemd-sysext uki config"] == "applied"
    assert status["systemd-sysext config"] == "skipped"
