"""Concurrency: two executors on one root serialise on
/run/stage-executor.lock; the second waits with a message or fails clearly
after --lock-timeout; dry-runs take no lock.

flock conflicts between two open file descriptions even inside one process,
so the test itself can play "the other executor" by holding the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.cli import main
from executor.errors import RootError
from executor.lock import LOCK_PATH, LockTimeout, run_lock
from executor.root import DryRunRoot, Root
from tests.conftest import make_tree, snapshot

REPO = Path(__file__).resolve().parent.parent
LOCK = LOCK_PATH.lstrip("/")
GUARD = 120


def hold(root: Path, pid: str = "4242") -> int:
    """Take the root's lock as another executor would; return the fd to close."""
    (root / "run").mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.write(fd, f"{pid}\n".encode())
    return fd


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield make_tree(tmp_path / "root", {"/etc": None})


def test_a_second_holder_fails_clearly_after_the_timeout(root: Path) -> None:
    fd = hold(root)
    said: list[str] = []
    try:
        with (
            pytest.raises(LockTimeout) as caught,
            run_lock(Root(root), wait=0.3, on_wait=said.append),
        ):
            raise AssertionError("got a lock another process holds")
    finally:
        os.close(fd)
    message = str(caught.value)
    assert "pid 4242" in message and LOCK_PATH in message and "gave up" in message
    assert len(said) == 1 and "waiting" in said[0] and "pid 4242" in said[0]


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(root: Path) -> None:
    fd = hold(root)
    threading.Timer(0.3, os.close, args=(fd,)).start()
    said: list[str] = []
    with run_lock(Root(root), wait=30, on_wait=said.append):
        assert (root / LOCK).read_text().strip() == str(os.getpid())
    assert len(said) == 1


def test_no_wait_means_one_try(root: Path) -> None:
    fd = hold(root)
    try:
        start = time.monotonic()
        with pytest.raises(LockTimeout), run_lock(Root(root), wait=0, on_wait=lambda m: None):
            pass
        assert time.monotonic() - start < 5  # a guard against blocking, not a speed target
    finally:
        os.close(fd)


def test_the_lock_is_free_again_after_a_run(root: Path) -> None:
    with run_lock(Root(root), wait=0):
        pass
    with run_lock(Root(root), wait=0):  # released on exit: no stale lock
        pass


@pytest.mark.subprocess
def test_a_holder_killed_by_sigkill_leaves_no_stale_lock(root: Path) -> None:
    (root / "run").mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(root / LOCK)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(LockTimeout), run_lock(Root(root), wait=0, on_wait=lambda m: None):
        pass
    holder.kill()
    holder.wait(timeout=GUARD)
    with run_lock(Root(root), wait=0):
        pass


def test_the_lock_file_stays_inside_the_root(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink("../../outside", root / "run")  # climbs out: clamped at the root
    before = snapshot(outside)
    with run_lock(Root(root), wait=0):
        pass
    assert (root / "outside/stage-executor.lock").is_file()
    assert snapshot(outside) == before


def test_a_lock_path_that_is_a_directory_is_a_clean_error(root: Path) -> None:
    (root / LOCK).mkdir(parents=True)
    with pytest.raises(RootError, match="not a lock file"), run_lock(Root(root), wait=0):
        pass


def test_a_dry_run_takes_no_lock_and_creates_nothing(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(RootError):
        DryRunRoot(os.fspath(root)).open_lock_file(LOCK_PATH)
    config = tmp_path / "c.yaml"
    config.write_text("stages:\n  boot:\n    - files: [{path: /etc/x, content: y}]\n")
    bare = snapshot(root)
    assert main(["apply", "-s", "boot", str(config), "--root", str(root), "--dry-run"]) == 0
    assert snapshot(root) == bare  # no /run, no lock file
    fd = hold(root)
    try:  # and a held lock does not stop it
        assert (
            main(
                [
                    "apply",
                    "-s",
                    "boot",
                    str(config),
                    "--root",
                    str(root),
                    "--dry-run",
                    "--lock-timeout",
                    "0",
                ]
            )
            == 0
        )
    finally:
        os.close(fd)
    capsys.readouterr()


def test_a_real_run_on_a_locked_root_fails_clearly_and_writes_nothing(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("stages:\n  boot:\n    - files: [{path: /etc/x, content: y}]\n")
    fd = hold(root)
    try:
        rc = main(
            ["apply", "-s", "boot", str(config), "--root", str(root), "--lock-timeout", "0.2"]
        )
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert rc == 1
    assert "holds /run/stage-executor.lock" in err and "gave up" in err
    assert "Traceback" not in err
    assert not (root / "etc/x").exists()


def test_a_negative_lock_timeout_is_a_usage_error(root: Path) -> None:
    assert main(["apply", "-s", "boot", "x.yaml", "--root", str(root), "--lock-timeout", "-1"]) == 2


# -- two real executors --------------------------------------------------------------


def files_config(path: Path, own: str, tag: str, count: int) -> Path:
    """Write `count` files of its own and the same `count` shared files, each tagged."""
    lines = ["stages:", "  boot:", f"    - name: {tag}", "      files:"]
    for i in range(count):
        for d in (own, "shared"):
            lines += [f"        - path: /{d}/f{i:03d}", f"          content: {tag}-{i}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def has_open(pid: int, target: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(target):
                return True
        except OSError:
            continue
    return False


@pytest.mark.subprocess
def test_two_executors_on_one_root_serialise_and_never_interleave(
    root: Path, tmp_path: Path
) -> None:
    count = 150
    for d in ("a", "b", "shared"):
        (root / d).mkdir()
    configs = {tag: files_config(tmp_path / f"{tag}.yaml", tag, tag, count) for tag in "ab"}
    fd = hold(root, pid="1")  # both start while "someone" holds the lock
    procs = {
        tag: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "executor",
                "apply",
                "-s",
                "boot",
                str(cfg),
                "--root",
                str(root),
                "--json",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag, cfg in configs.items()
    }
    deadline = time.monotonic() + GUARD
    while not all(has_open(p.pid, root / LOCK) for p in procs.values()):
        assert time.monotonic() < deadline, "the executors never reached the lock"
        assert all(p.poll() is None for p in procs.values()), "an executor did not wait"
        time.sleep(0.05)
    time.sleep(0.3)  # both are in their wait loop
    os.close(fd)
    outs = {tag: p.communicate(timeout=GUARD) for tag, p in procs.items()}
    for tag, (out, err) in outs.items():
        assert procs[tag].returncode == 0, err
        assert "waiting for another stage-executor (pid" in err
        assert json.loads(out)["summary"]["applied"] == 1

    def mtimes(d: str) -> list[int]:
        return [os.stat(root / d / f"f{i:03d}").st_mtime_ns for i in range(count)]

    # One ran wholly before the other: all of the first's writes are no later
    # than any of the second's, and the shared files all hold the second's.
    first, second = sorted("ab", key=lambda t: max(mtimes(t)))
    assert max(mtimes(first)) <= min(mtimes(second))
    shared = {(root / "shared" / f"f{i:03d}").read_text().split("-")[0] for i in range(count)}
    assert shared == {second}
