"""Crash consistency: SIGKILL the executor anywhere, lose nothing.

A config replaces 300 files of 64 KiB, each holding different old content.
The executor (`python3 -m executor apply ...`, a real process) is killed with
SIGKILL at 24 points spread over its run: right at start-up, and after 37,
75, ... of the 300 files have been replaced, with a little jitter so that
the kill lands anywhere inside the write of the next file. After every kill
each target holds exactly its old or exactly its new content, and no
temporary file sits at a target path. The next run (killed again, or left to
finish) cleans the temporary files up.
"""

from __future__ import annotations

import base64
import fcntl
import gzip
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from executor.errors import RootError
from executor.root import TEMP_MARK, Root

REPO = Path(__file__).resolve().parent.parent
FILES = 300
SIZE = 64 << 10
DIRS = 3
CONFIGS = 4  # several sources, each a step
ROUNDS = 3
THRESHOLDS = (0, 37, 75, 112, 150, 187, 225, 262)  # replaced files at which to kill
GUARD = 120.0


def target(i: int) -> str:
    return f"/data/d{i % DIRS}/f{i:03d}"


def content(kind: str, i: int) -> bytes:
    key = (kind, i)
    if key not in _CONTENT:
        _CONTENT[key] = (f"{kind}-{i:03d}.".encode() * (SIZE // 8 + 1))[:SIZE]
    return _CONTENT[key]


_CONTENT: dict[tuple[str, int], bytes] = {}


def write_configs(src: Path) -> None:
    src.mkdir()
    per = FILES // CONFIGS
    for part in range(CONFIGS):
        lines = [f"name: crash{part}", "stages:", "  boot:", "    - name: replace", "      files:"]
        for i in range(part * per, (part + 1) * per):
            packed = base64.b64encode(gzip.compress(content("new", i))).decode()
            lines += [
                f"        - path: {target(i)}",
                "          permissions: 0640",
                "          encoding: gz+b64",
                f"          content: {packed}",
            ]
        (src / f"{part}.yaml").write_text("\n".join(lines) + "\n")


def old_tree(root: Path) -> dict[int, int]:
    """Fill the root with the old content; return each target's inode."""
    inodes = {}
    for i in range(FILES):
        path = root / target(i).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content("old", i))
        os.chmod(path, 0o644)
        inodes[i] = path.stat().st_ino
    return inodes


def replaced(root: Path, inodes: dict[int, int]) -> int:
    """How many targets a rename has replaced since `inodes` was taken."""
    count = 0
    for i, ino in inodes.items():
        try:
            if os.stat(root / target(i).lstrip("/")).st_ino != ino:
                count += 1
        except FileNotFoundError:
            count += 1  # a target that vanished: counted, and the check will fail it
    return count


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"*{TEMP_MARK}")]


def check_old_or_new(root: Path) -> tuple[int, int]:
    """Every target is a regular file with exactly its old or new content."""
    old = new = 0
    for i in range(FILES):
        path = root / target(i).lstrip("/")
        assert path.is_file() and not path.is_symlink(), path
        data = path.read_bytes()
        if data == content("new", i):
            new += 1
            assert path.stat().st_mode & 0o7777 == 0o640, path
        else:
            assert data == content("old", i), f"{path}: neither old nor new ({len(data)} bytes)"
            old += 1
    names = {os.path.basename(target(i)) for i in range(FILES)}
    for tmp in temp_files(root):
        assert tmp.name not in names
        # the final mode or stricter, never more
        assert tmp.stat().st_mode & 0o7777 & ~0o640 == 0, f"{tmp}: {tmp.stat().st_mode:o}"
    return old, new


def start_executor(root: Path, src: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "executor", "apply", "-s", "boot", str(src), "--root", str(root)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_at(
    proc: subprocess.Popen[bytes], root: Path, inodes: dict[int, int], threshold: int, jitter: float
) -> bool:
    """SIGKILL `proc` once `threshold` more targets are replaced; True if it was running."""
    deadline = time.monotonic() + GUARD
    while replaced(root, inodes) < threshold and proc.poll() is None:
        assert time.monotonic() < deadline, "the executor made no progress"
        time.sleep(0.002)  # leave the executor the CPU
    time.sleep(jitter)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=GUARD)
    return alive


@pytest.mark.subprocess
def test_sigkill_at_any_point_leaves_old_or_new_content_and_no_debris(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_configs(src)
    rng = random.Random(9)  # fixed: the same kill points on every run of the test
    survived = 0
    left_temps = 0
    spread = []
    for rnd in range(ROUNDS):
        root = tmp_path / f"root{rnd}"
        old_tree(root)
        new = 0
        for threshold in THRESHOLDS:
            before = {i: os.stat(root / target(i).lstrip("/")).st_ino for i in range(FILES)}
            # each run starts where the last kill left the tree
            wanted = max(0, threshold + rnd * 12 - new)
            proc = start_executor(root, src)
            alive = kill_at(proc, root, before, wanted, rng.uniform(0, 0.02))
            _, new = check_old_or_new(root)
            survived += alive
            spread.append(new)
            left_temps += len(temp_files(root))
        # the run after the last kill finishes: all new, nothing left over
        done = start_executor(root, src)
        _, err = done.communicate(timeout=GUARD)
        assert done.returncode == 0, err.decode()
        assert check_old_or_new(root) == (0, FILES)
        assert temp_files(root) == []
    print(
        f"kill points survived: {survived}; new files at the kills: {spread}; "
        f"temporary files left by kills (all cleaned by the next runs): {left_temps}"
    )
    assert survived >= 20
    assert min(spread) < 20 and max(spread) > 250  # spread over the whole run


# -- the clean-up itself, deterministically ------------------------------------------


def test_a_write_sweeps_stale_temp_files_but_not_a_live_one(tmp_path: Path) -> None:
    d = tmp_path / "root/etc"
    d.mkdir(parents=True)
    stale_file = d / f".motd.0123abcd{TEMP_MARK}"
    stale_file.write_bytes(b"half a file")
    stale_link = d / f".unit.deadbeef{TEMP_MARK}"
    os.symlink("/usr/lib/x", stale_link)
    live = d / f".other.89abcdef{TEMP_MARK}"
    live.write_bytes(b"being written")
    not_ours = [d / "x.se-tmp", d / f".y.XYZ{TEMP_MARK}", d / "keep"]
    for path in not_ours:
        path.write_bytes(b"mine")
    holder = os.open(live, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as the writer that is still alive holds it
    try:
        Root(tmp_path / "root").write_file(
            "/etc/motd", b"hi", mode=0o644, uid=os.getuid(), gid=os.getgid()
        )
    finally:
        os.close(holder)
    assert not stale_file.exists() and not stale_link.is_symlink()
    assert live.exists()
    assert all(p.exists() for p in not_ours)
    assert (d / "motd").read_bytes() == b"hi"


def test_a_directory_the_root_made_is_not_listed_before_its_first_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sweep lists a directory at the first write into it; one this Root
    # has just created cannot hold a killed run's leftovers, so it is not listed.
    (tmp_path / "root/etc").mkdir(parents=True)
    r = Root(tmp_path / "root")
    listed: list[int] = []
    real_listdir = os.listdir

    def spy(fd: int) -> list[str]:
        listed.append(fd)
        return real_listdir(fd)

    monkeypatch.setattr(os, "listdir", spy)
    ids = {"mode": 0o644, "uid": os.getuid(), "gid": os.getgid()}
    r.make_dir("/etc/new.d", mode=0o755, uid=os.getuid(), gid=os.getgid())
    r.write_file("/etc/new.d/a.conf", b"a", **ids)
    assert listed == []
    r.write_file("/etc/motd", b"hi", **ids)  # a directory that was there before
    assert len(listed) == 1
    r.write_file("/etc/issue", b"hi", **ids)  # swept once per directory
    assert len(listed) == 1


def test_a_failed_write_leaves_no_temp_file_and_the_old_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/f").write_bytes(b"old")
    r = Root(root)
    with pytest.raises(RootError, match="owner"):
        r.write_file("/etc/f", b"new", mode=0o644, uid=-2, gid=-2)  # no such owner
    assert (root / "etc/f").read_bytes() == b"old"
    assert temp_files(root) == []
