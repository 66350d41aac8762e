"""Secure writes: secrets never readable by others, not even for an
instant; owner before mode; setuid and setgid bits survive the chown.

Real temp-dir roots; we run as root in CI, so real owners other than ours are
set (the tests that need that skip elsewhere).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from executor.errors import RootError
from executor.root import TEMP_MARK, Root

OTHER_UID, OTHER_GID = 1234, 2345
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Root]:
    (tmp_path / "root/etc").mkdir(parents=True)
    yield Root(tmp_path / "root")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Record, in order, what happens to the temporary file: its creation
    flags and mode, the mode it has at each write, chown and chmod."""
    seen: list[tuple[str, Any]] = []
    real_open, real_write = os.open, os.write
    real_fchown, real_fchmod = os.fchown, os.fchmod

    def spy_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        fd = real_open(path, flags, mode, **kw)
        if str(path).endswith(TEMP_MARK):
            seen.append(("open", (flags, mode)))
        return fd

    def spy_write(fd: int, data: Any) -> int:
        seen.append(("write", stat.S_IMODE(os.fstat(fd).st_mode)))
        return real_write(fd, data)

    def spy_fchown(fd: int, uid: int, gid: int) -> None:
        seen.append(("fchown", (uid, gid)))
        real_fchown(fd, uid, gid)

    def spy_fchmod(fd: int, mode: int) -> None:
        seen.append(("fchmod", mode))
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "write", spy_write)
    monkeypatch.setattr(os, "fchown", spy_fchown)
    monkeypatch.setattr(os, "fchmod", spy_fchmod)
    return seen


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o000, 0o640, 0o644, 0o4755, 0o2750])
def test_the_temp_file_is_exclusive_and_never_more_open_than_the_final_mode(
    root: Root, calls: list[tuple[str, Any]], mode: int
) -> None:
    root.write_file("/etc/secret", b"s3cr3t" * 1000, mode=mode, uid=os.getuid(), gid=os.getgid())
    flags, create_mode = next(v for k, v in calls if k == "open")
    assert flags & os.O_EXCL and flags & os.O_CREAT and flags & os.O_NOFOLLOW
    assert create_mode & ~(mode & 0o600) == 0  # owner's read/write of the final mode at most
    writes = [v for k, v in calls if k == "write"]
    assert writes
    for during in writes:
        assert during & 0o077 == 0, f"{during:o}: readable by group or others while written"
        assert during & ~mode & 0o7777 == 0
    order = [k for k, _ in calls if k in ("fchown", "fchmod")]
    assert order == ["fchown", "fchmod"]  # owner first: chown clears setuid/setgid
    st = os.stat(root.path + "/etc/secret")
    assert stat.S_IMODE(st.st_mode) == mode


@needs_root
def test_a_setuid_file_owned_by_another_user_keeps_its_bits(root: Root) -> None:
    root.write_file("/etc/suid", b"#!/bin/true\n", mode=0o4755, uid=OTHER_UID, gid=OTHER_GID)
    st = os.stat(root.path + "/etc/suid")
    assert (st.st_uid, st.st_gid) == (OTHER_UID, OTHER_GID)
    assert stat.S_IMODE(st.st_mode) == 0o4755


@needs_root
def test_set_attrs_chowns_then_reapplies_setuid_and_setgid(root: Root) -> None:
    path = root.path + "/etc/tool"
    Path(path).write_bytes(b"x")
    os.chmod(path, 0o755)
    root.set_attrs("/etc/tool", mode=0o6755, uid=OTHER_UID, gid=OTHER_GID)
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (OTHER_UID, OTHER_GID, 0o6755)
    # an owner change alone (mode omitted) keeps the bits the chown cleared
    root.set_attrs("/etc/tool", uid=OTHER_UID + 1)
    st = os.stat(path)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (OTHER_UID + 1, 0o6755)


@needs_root
def test_a_new_directory_is_private_until_owned_and_moded(
    root: Root, calls: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    real_mkdir = os.mkdir

    def spy_mkdir(path: Any, mode: int = 0o777, **kw: Any) -> None:
        made.append(mode)
        real_mkdir(path, mode, **kw)

    monkeypatch.setattr(os, "mkdir", spy_mkdir)
    root.make_dir("/etc/shared", mode=0o2775, uid=OTHER_UID, gid=OTHER_GID)
    assert made == [0o700]
    assert [k for k, _ in calls] == ["fchown", "fchmod"]
    st = os.stat(root.path + "/etc/shared")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (OTHER_UID, OTHER_GID, 0o2775)


def test_set_attrs_refuses_special_files(root: Root) -> None:
    os.mkfifo(root.path + "/etc/fifo")
    with pytest.raises(RootError, match="special file"):
        root.set_attrs("/etc/fifo", mode=0o600)


def test_an_impossible_owner_is_a_clean_error(root: Root) -> None:
    with pytest.raises(RootError, match="invalid owner"):
        root.write_file("/etc/x", b"", mode=0o644, uid=1 << 40, gid=0)
    assert os.listdir(root.path + "/etc") == []
