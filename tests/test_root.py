"""The Root layer: confined resolution, writes, and the dry-run overlay.

Fast unit tests on pyfakefs; the real-disk behaviour is covered by the
scenario tests on temp-dir roots.
"""

from __future__ import annotations

import errno
import os

import pytest
from pyfakefs.fake_filesystem_unittest import Patcher

from executor.errors import RootError
from executor.root import DryRunRoot, Root


@pytest.fixture
def fs_root():
    with Patcher() as patcher:
        fs = patcher.fs
        fs.create_dir("/outside")
        fs.create_file("/outside/secret", contents="host secret")
        fs.create_dir("/r/etc")
        fs.create_file("/r/etc/os-release", contents="ID=kairos\n")
        fs.create_symlink("/r/abs", "/etc")  # absolute: re-enters the root
        fs.create_symlink("/r/up", "../../../outside")  # `..` stops at the root
        fs.create_symlink("/r/loop1", "/loop2")
        fs.create_symlink("/r/loop2", "/loop1")
        fs.create_symlink("/r/dangling", "/nowhere/file")
        yield fs


def test_absolute_link_reenters_the_root(fs_root) -> None:
    root = Root("/r")
    r = root.resolve("/abs/os-release")
    assert r.rel == "etc/os-release" and r.exists
    assert root.read_text("/abs/os-release") == "ID=kairos\n"


def test_dotdot_stops_at_the_root(fs_root) -> None:
    root = Root("/r")
    assert root.resolve("/../../outside/secret").rel == "outside/secret"
    assert root.lookup("/../../outside/secret") is None
    assert root.resolve("/up/secret").rel == "outside/secret"
    assert root.lookup("/up/secret") is None
    with pytest.raises(RootError):
        root.read_bytes("/up/secret")


def test_loops_and_missing_parents_report_errno(fs_root) -> None:
    root = Root("/r")
    assert root.resolve("/loop1").errno == errno.ELOOP
    assert root.resolve("/missing/x").errno == errno.ENOENT
    assert root.resolve("/etc/os-release/x").errno == errno.ENOTDIR
    assert root.lookup("/dangling") is None
    assert root.lookup("/dangling", follow=False) is not None


def test_write_file_through_a_dangling_link_lands_inside(fs_root) -> None:
    root = Root("/r")
    fs_root.create_dir("/r/nowhere")
    root.write_file("/dangling", b"data", mode=0o600, uid=os.getuid(), gid=os.getgid())
    with open("/r/nowhere/file") as fh:
        assert fh.read() == "data"
    assert not os.path.exists("/nowhere/file")
    assert os.stat("/r/nowhere/file").st_mode & 0o7777 == 0o600


def test_write_refuses_missing_parent_and_relative_paths(fs_root) -> None:
    root = Root("/r")
    with pytest.raises(RootError):
        root.write_file("/no/such/dir/f", b"", mode=0o644, uid=0, gid=0)
    with pytest.raises(RootError):
        root.write_file("etc/x", b"", mode=0o644, uid=0, gid=0)


def test_dry_run_records_and_later_reads_see_it(fs_root) -> None:
    root = DryRunRoot("/r")
    uid, gid = os.getuid(), os.getgid()
    root.make_dir("/etc/new", mode=0o755, uid=uid, gid=gid)
    root.write_file("/etc/new/f", b"hello", mode=0o640, uid=uid, gid=gid)
    root.symlink("/etc/link", "/etc/new/f")
    assert root.read_bytes("/etc/link") == b"hello"
    node = root.lookup("/etc/new/f")
    assert node is not None and node.mode == 0o640 and node.kind == "file"
    assert root.listdir("/etc") == ["link", "new", "os-release"]
    root.remove("/etc/os-release")
    assert root.lookup("/etc/os-release") is None
    assert root.listdir("/etc") == ["link", "new"]
    # the disk is untouched
    assert sorted(os.listdir("/r/etc")) == ["os-release"]
    assert root.planned_paths() == ["/etc/link", "/etc/new", "/etc/new/f", "/etc/os-release"]


def test_an_overlay_shows_both_plans_and_writes_nothing(fs_root) -> None:
    run = DryRunRoot("/r")
    run.write_file("/etc/a.conf", b"a\n", mode=0o644, uid=0, gid=0)
    view = DryRunRoot(over=run)
    view.make_dir("/etc/x.wants", mode=0o755, uid=0, gid=0)
    view.symlink("/etc/x.wants/u.service", "/usr/lib/u.service")
    view.remove("/etc/os-release")
    assert view.path == "/r"
    assert view.read_text("/etc/a.conf") == "a\n"  # planned below
    assert sorted(view.listdir("/etc")) == ["a.conf", "x.wants"]
    assert view.lookup("/etc/x.wants/u.service", follow=False).target == "/usr/lib/u.service"
    # the run below sees none of the view's plan, and the disk none of either
    assert run.lookup("/etc/x.wants") is None and run.read_text("/etc/os-release")
    assert sorted(os.listdir("/r/etc")) == ["os-release"]


# -- lookups remembered for one step (remember_lookups) ------------------------


def test_remembered_lookups_last_until_the_epoch_changes(tmp_path):
    root = Root(str(tmp_path))
    epoch = [0]
    root.remember_lookups(lambda: epoch[0])
    assert root.lookup("/etc/x") is None
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/x").write_text("made by a process")
    assert root.lookup("/etc/x") is None  # remembered: no process started since
    epoch[0] += 1  # a process started: it may have changed anything
    node = root.lookup("/etc/x")
    assert node is not None and node.kind == "file"
    root.remember_lookups(None)
    (tmp_path / "etc/x").unlink()
    assert root.lookup("/etc/x") is None  # off again: every lookup asks the disk


def test_changes_through_the_root_forget_what_they_touch(tmp_path):
    root = Root(str(tmp_path))
    root.remember_lookups(lambda: 0)
    assert root.lookup("/a/b") is None
    root.make_dir("/a", mode=0o755, uid=os.getuid(), gid=os.getgid())
    assert root.lookup("/a").kind == "dir"
    root.write_file("/a/b", b"1", mode=0o644, uid=os.getuid(), gid=os.getgid())
    assert root.lookup("/a/b").size == 1
    root.write_file("/a/b", b"22", mode=0o600, uid=os.getuid(), gid=os.getgid())
    assert root.lookup("/a/b").size == 2 and root.lookup("/a/b").mode == 0o600
    root.remove("/a/b")
    assert root.lookup("/a/b") is None
    root.remove_dir("/a")
    assert root.lookup("/a") is None
    root.symlink("/l", "/target")
    assert root.lookup("/l", follow=False).kind == "link"
