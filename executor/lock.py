"""The run lock: one executor at a time changes a root.

A real run holds flock(2) on `/run/stage-executor.lock` inside the root from
before it reads its sources until after it has written its report, so two
executors on one root (a boot stage and the reconcile timer, say) run one
after the other and never interleave their writes. The second one says that
it waits, and gives up with a clear error after `wait` seconds.

Dry-runs take no lock. They write nothing, so they cannot interleave with
anything; they must work on a root the user may only read (an image tree, a
mounted snapshot), where creating the lock file is impossible; and a preview
that blocked behind a long boot stage would be useless. A dry-run running
beside a real one may show a half-applied state: it is a preview.

flock, not a PID file: the kernel drops the lock when its holder dies, even
by SIGKILL, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import errno as E
import fcntl
import os
import time
from collections.abc import Callable

from executor.errors import ExecutorError
from executor.log import log
from executor.root import Root

LOCK_PATH = "/run/stage-executor.lock"
DEFAULT_WAIT = 300.0  # seconds; as long as one command may run
POLL_EVERY = 0.1  # seconds between two tries while another run holds it


class LockTimeout(ExecutorError):
    """Another executor held the root's lock for longer than we could wait."""


def run_lock(
    root: Root, *, wait: float = DEFAULT_WAIT, on_wait: Callable[[str], None] | None = None
) -> RunLock:
    """Hold the root's run lock for the body of the `with`.

    Waits up to `wait` seconds (0: do not wait) for another holder, telling
    `on_wait` (default: a log warning) once that it waits; raises LockTimeout
    after that, and RootError when the lock file cannot be made.
    """
    return RunLock(root, wait, on_wait or log.warning)


class RunLock:
    """The `with` of run_lock (a class: @contextmanager would import contextlib, ~3M
    instructions of every run)."""

    def __init__(self, root: Root, wait: float, on_wait: Callable[[str], None]) -> None:
        self.root, self.wait, self.on_wait = root, wait, on_wait
        self.fd = -1

    def __enter__(self) -> None:
        fd = _open_lock(self.root)
        try:
            _acquire(fd, self.root, self.wait, self.on_wait)
            _record_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)  # releases the lock


def _open_lock(root: Root) -> int:
    parent = os.path.dirname(LOCK_PATH)
    if root.lookup(parent) is None:
        root.make_dir(parent, mode=0o755, uid=os.geteuid(), gid=os.getegid())
    return root.open_lock_file(LOCK_PATH)


def _acquire(fd: int, root: Root, wait: float, on_wait: Callable[[str], None]) -> None:
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (E.EWOULDBLOCK, E.EAGAIN, E.EACCES):
                raise
        holder = _holder(fd)
        if time.monotonic() >= deadline:
            raise LockTimeout(
                f"another stage-executor{holder} holds {LOCK_PATH} in {root.path};"
                f" gave up after waiting {wait:g}s (--lock-timeout)"
            )
        if not told:
            on_wait(
                f"waiting for another stage-executor{holder} that holds {LOCK_PATH}"
                f" in {root.path} (up to {wait:g}s)"
            )
            told = True
        time.sleep(min(POLL_EVERY, max(0.0, deadline - time.monotonic())))


def _record_holder(fd: int) -> None:
    """Write our pid into the lock file, for the message of whoever waits."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # the lock is what matters; the pid is a courtesy


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""
