"""Directory fsyncs are deferred to Root.sync(), once per directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from executor.cli import main
from executor.root import Root
from tests.conftest import SEED


def test_each_changed_directory_is_synced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Root(str(tmp_path))
    uid, gid = os.geteuid(), os.getegid()
    root.make_dir("/etc", mode=0o755, uid=uid, gid=gid)
    for name in ("a", "b", "c"):
        root.write_file(f"/etc/{name}", b"x", mode=0o644, uid=uid, gid=gid)
    root.symlink("/etc/link", "/etc/a")
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    root.sync()
    assert sorted(synced) == sorted([str(tmp_path), str(tmp_path / "etc")])
    synced.clear()
    root.sync()  # nothing pending any more: no fsync, no descriptor left open
    assert synced == []
    assert not root._unsynced


def test_a_run_syncs_its_directories_before_it_returns(
    seed_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left: list[int] = []
    real_sync = Root.sync

    def spy(self: Root) -> None:
        real_sync(self)
        left.append(len(self._unsynced))

    monkeypatch.setattr(Root, "sync", spy)
    assert main(["apply", "-s", "initramfs.after", "--root", str(seed_root), str(SEED)]) == 0
    assert left == [0]
    assert (seed_root / "etc/profile.d/systemd-sysext.sh").exists()


def test_nothing_below_run_waits_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/run is a fresh tmpfs at every boot: its content never needs to survive a crash.

    Its own entry in the root does (the mount point), and files elsewhere still
    get their data and directory fsyncs.
    """
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    root = Root(str(tmp_path))
    uid, gid = os.geteuid(), os.getegid()
    root.make_dir("/run", mode=0o755, uid=uid, gid=gid)
    root.make_dir("/run/state", mode=0o755, uid=uid, gid=gid)
    root.write_file("/run/state/report.json", b"{}", mode=0o600, uid=uid, gid=gid)
    root.symlink("/run/state/latest", "report.json")
    root.make_dir("/etc", mode=0o755, uid=uid, gid=gid)
    root.write_file("/etc/kept", b"x", mode=0o644, uid=uid, gid=gid)
    root.sync()
    assert [p for p in synced if "/run/" in p or p.endswith("/run")] == []
    assert str(tmp_path) in synced  # the entries of run and etc in the root
    assert str(tmp_path / "etc") in synced
    assert any(p.startswith(str(tmp_path / "etc" / ".kept.")) for p in synced)  # its data
    assert (tmp_path / "run/state/report.json").read_bytes() == b"{}"
    assert os.readlink(tmp_path / "run/state/latest") == "report.json"
