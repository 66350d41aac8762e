"""sysctl, modules, hostname, dns, timesyncd: scenarios on temp roots, the
live-only parts skipped outside `/`, and dry-run parity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from executor.context import RunContext
from executor.modules import live
from executor.modules.kmodules import plan_kernel_modules
from executor.modules.sysctl import plan_sysctl
from executor.root import DryRunRoot, Root
from tests.modhelp import assert_dry_run_matches, run_config, tree

MID = "0123456789abcdef0123456789abcdef"

# -- sysctl -------------------------------------------------------------------

SYSCTL = """
stages:
  test:
    - sysctl:
        net.core.rmem_max: 7500000
        vm.max_map_count: 262144
"""


def test_sysctl_in_a_fake_root_is_planned_but_never_written(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    run = run_config(root, SYSCTL)
    assert run.statuses == ["skipped"]  # nothing was done
    actions = run.actions()[0]
    assert [a["path"] for a in actions] == [
        "/proc/sys/net/core/rmem_max",
        "/proc/sys/vm/max_map_count",
    ]
    assert all(a["change"] == "none" and "not the running kernel" in a["detail"] for a in actions)
    assert not (root / "proc").exists()


def test_sysctl_on_the_running_system_compares_with_the_kernel() -> None:
    current = Path("/proc/sys/vm/max_map_count").read_text().strip()
    ctx = RunContext(root=DryRunRoot("/"))
    same, other = plan_sysctl(ctx, {"vm.max_map_count": current, "kernel.pid_max": "123456789"})
    assert (same.change, same.data) == ("none", None)
    assert other.change == "update" and other.data == b"123456789"
    with pytest.raises(Exception, match="no parameter"):
        plan_sysctl(ctx, {"no.such.parameter": "1"})


def test_live_sysctl_writes_go_to_the_kernel_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[str, bytes]] = []
    monkeypatch.setattr(live, "write_kernel_parameter", lambda p, v: written.append((p, v)))
    from executor.apply import apply_action

    ctx = RunContext(root=Root("/"))
    (action,) = plan_sysctl(ctx, {"kernel.pid_max": "123456789"})
    apply_action(ctx, action)
    assert written == [("/proc/sys/kernel/pid_max", b"123456789")]


@pytest.mark.parametrize("key", ["", "a..b", "../etc/passwd", "a/../../b"])
def test_bad_sysctl_keys_fail(tmp_path: Path, key: str) -> None:
    run = run_config(tree(tmp_path / "r", {}), f'stages:\n  test:\n    - sysctl: {{"{key}": 1}}\n')
    assert run.statuses == ["failed"]


# -- modules ------------------------------------------------------------------


def test_modules_are_skipped_in_a_fake_root(tmp_path: Path) -> None:
    run = run_config(tree(tmp_path / "r", {}), "stages:\n  test:\n    - modules: [dm_crypt]\n")
    (action,) = run.actions()[0]
    assert action["change"] == "none" and action["command"] == "modprobe dm_crypt"
    assert "running kernel" in action["detail"]


def test_modules_on_the_running_system_skip_loaded_ones() -> None:
    modules = Path("/proc/modules")  # absent on a kernel without module support
    text = modules.read_text() if modules.exists() else ""
    loaded = text.split("\n", 1)[0].split(" ", 1)[0]
    ctx = RunContext(root=DryRunRoot("/"))
    entries = (
        (f"{loaded}", "surely_not_a_loaded_module opt=1")
        if loaded
        else ("surely_not_a_loaded_module opt=1",)
    )
    actions = plan_kernel_modules(ctx, entries)
    assert actions[-1].change == "run"
    assert actions[-1].command == "modprobe surely_not_a_loaded_module opt=1"
    if loaded:
        assert actions[0].change == "none" and actions[0].detail == "already loaded"


# -- hostname -----------------------------------------------------------------

HOSTS = "  127.0.0.1   localhost  old-name \n::1       localhost\n# comment\n"


def test_hostname_writes_hostname_and_the_localhost_line(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/etc/hosts": HOSTS, "/etc/machine-id": MID + "\n"})
    run = run_config(root, 'stages:\n  test:\n    - hostname: "kairos-{{ trunc 4 .MachineID }}"\n')
    assert run.statuses == ["applied"], run.reasons()
    assert (root / "etc/hostname").read_text() == "kairos-0123\n"
    assert (root / "etc/hosts").read_text() == (
        "127.0.0.1 localhost kairos-0123\n::1       localhost\n# comment\n"
    )
    live_action = run.actions()[0][-1]
    assert live_action["kind"] == "sethostname" and live_action["change"] == "none"


def test_hostname_prefers_the_dbus_machine_id_as_yip_does(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "r",
        {"/etc/machine-id": MID + "\n", "/var/lib/dbus/machine-id": "fedcba9876543210" * 2 + "\n"},
    )
    run_config(root, 'stages:\n  test:\n    - hostname: "n-{{ trunc 6 .MachineID }}"\n')
    assert (root / "etc/hostname").read_text() == "n-fedcba\n"


def test_hostname_follows_a_symlinked_etc_hostname_inside_the_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/usr/local/etc/hostname": "", "/etc/hosts": HOSTS})
    os.symlink("/usr/local/etc/hostname", root / "etc/hostname")
    run_config(root, "stages:\n  test:\n    - hostname: plain-name\n")
    assert (root / "usr/local/etc/hostname").read_text() == "plain-name\n"
    assert os.readlink(root / "etc/hostname") == "/usr/local/etc/hostname"


def test_hostname_uuid_and_random_are_fresh_and_valid(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/etc/hosts": "127.0.0.1 localhost\n"})
    run_config(root, 'stages:\n  test:\n    - hostname: "{{ .UUID }}"\n')
    name = (root / "etc/hostname").read_text().strip()
    assert len(name) == 36 and name.count("-") == 4
    run_config(root, 'stages:\n  test:\n    - hostname: "r-{{ trunc 8 .Random }}"\n')
    name = (root / "etc/hostname").read_text().strip()
    assert len(name) == 10 and name[2:].isalnum()


def test_hostname_without_machine_id_is_an_error_not_garbage(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/etc/hosts": HOSTS})
    run = run_config(root, 'stages:\n  test:\n    - hostname: "kairos-{{ trunc 4 .MachineID }}"\n')
    assert run.statuses == ["failed"]
    assert "trunc expects a string as argument 2, got nothing" in run.reasons()
    assert not (root / "etc/hostname").exists()


def test_hostname_without_etc_hosts_says_so(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    run = run_config(root, "stages:\n  test:\n    - hostname: node1\n")
    assert run.statuses == ["applied"]
    assert any(
        a["path"] == "/etc/hosts" and "no /etc/hosts" in a["detail"] for a in run.actions()[0]
    )


@pytest.mark.parametrize("name", ["two words", "x" * 65, "a/b"])
def test_invalid_hostnames_fail(tmp_path: Path, name: str) -> None:
    run = run_config(tree(tmp_path / "r", {}), f'stages:\n  test:\n    - hostname: "{name}"\n')
    assert run.statuses == ["failed"]


def test_hostname_dry_run_parity(tmp_path: Path) -> None:
    assert_dry_run_matches(
        tmp_path,
        lambda b: tree(b, {"/etc/hosts": HOSTS, "/etc/machine-id": MID}),
        'stages:\n  test:\n    - hostname: "kairos-{{ trunc 4 .MachineID }}"\n',
    )


# -- dns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dns", "expected"),
    [
        ("{nameservers: [8.8.8.8]}", "nameserver 8.8.8.8\n"),
        (
            "{nameservers: [1.1.1.1, 9.9.9.9], search: [a.example, b.example], options: [rotate]}",
            "search a.example b.example\nnameserver 1.1.1.1\nnameserver 9.9.9.9\noptions rotate\n",
        ),
        ("{nameservers: [1.1.1.1], search: ['.']}", "nameserver 1.1.1.1\n"),
    ],
)
def test_dns_writes_resolv_conf(tmp_path: Path, dns: str, expected: str) -> None:
    root = tree(tmp_path / "r", {"/etc/hostname": "node\n"})
    assert run_config(root, f"stages:\n  test:\n    - dns: {dns}\n").statuses == ["applied"]
    assert (root / "etc/resolv.conf").read_text() == expected


def test_dns_replaces_the_target_of_a_stub_link_inside_the_root(tmp_path: Path) -> None:
    stub = "/run/systemd/resolve/stub-resolv.conf"
    root = tree(tmp_path / "r", {stub: "nameserver 127.0.0.53\n"})
    (root / "etc").mkdir()
    os.symlink("../run/systemd/resolve/stub-resolv.conf", root / "etc/resolv.conf")
    run_config(root, "stages:\n  test:\n    - dns: {nameservers: [10.0.0.1]}\n")
    assert (root / "run/systemd/resolve/stub-resolv.conf").read_text() == "nameserver 10.0.0.1\n"
    assert os.path.islink(root / "etc/resolv.conf")


def test_dns_in_a_missing_directory_fails_as_in_yip(tmp_path: Path) -> None:
    """yip writes with os.WriteFile, which makes no directory: ENOENT."""
    root = tree(tmp_path / "r", {"/etc/hostname": "node\n"})
    run = run_config(
        root,
        "stages:\n  test:\n    - dns: {nameservers: [10.0.0.1], path: /etc/nowhere/resolv.conf}\n",
    )
    assert run.statuses == ["failed"]
    assert "/etc/nowhere/resolv.conf: No such file or directory" in run.reasons()
    assert not (root / "etc/nowhere").exists()


def test_dns_without_nameservers_does_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    assert run_config(root, "stages:\n  test:\n    - dns: {search: [x]}\n").statuses == [
        "unchanged"
    ]
    assert not (root / "etc").exists()


# -- timesyncd ------------------------------------------------------------------

DROP_IN = "etc/systemd/timesyncd.conf.d/10-yip.conf"


def test_timesyncd_creates_the_drop_in(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    run_config(root, "stages:\n  test:\n    - timesyncd: {NTP: 0.pool.ntp.org, FallbackNTP: x}\n")
    assert (root / DROP_IN).read_text() == "[Time]\nFallbackNTP=x\nNTP=0.pool.ntp.org\n"


def test_timesyncd_merges_into_an_existing_drop_in(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "r",
        {DROP_IN: "# mine\n[Time]\nNTP=old\nRootDistanceMaxSec=5\n\n[Other]\nNTP=not-this-one\n"},
    )
    config = "stages:\n  test:\n    - timesyncd: {NTP: new, PollIntervalMinSec: 32}\n"
    run = run_config(root, config)
    assert run.statuses == ["applied"]
    assert (root / DROP_IN).read_text() == (
        "# mine\n[Time]\nNTP=new\nRootDistanceMaxSec=5\nPollIntervalMinSec=32\n\n"
        "[Other]\nNTP=not-this-one\n"
    )
    again = run_config(root, config)
    assert again.statuses == ["unchanged"]


def test_timesyncd_dry_run_parity(tmp_path: Path) -> None:
    assert_dry_run_matches(
        tmp_path, lambda b: tree(b, {}), "stages:\n  test:\n    - timesyncd: {NTP: pool.ntp.org}\n"
    )
