"""The one place that starts processes.

Commands, shell conditions and live `systemctl` calls all go through
`Runner.run`: keyword-only options, a timeout that kills the whole process
group (and any child that left it), a "still running" log line every 10 s,
and the failing command logged as a line an operator can paste.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("stage-executor")

DEFAULT_TIMEOUT = 300.0  # seconds; a boot stage must not hang forever
OUTPUT_LIMIT = 1 << 20  # bytes of output kept in memory per process
PROGRESS_EVERY = 10.0  # seconds between "still running" lines


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr interleaved, capped at OUTPUT_LIMIT
    timed_out: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.duration:.0f}s"
        if self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        return f"exit status {self.returncode}"


class Runner:
    """Starts processes; counts them so tests and benchmarks can check."""

    def __init__(self) -> None:
        self.spawned = 0

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        chroot: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        label: str = "",
    ) -> Completed:
        """Run `argv`; never raises for a failing or hanging command."""
        argv = tuple(argv)
        self.spawned += 1
        shown = label or shlex.join(argv)
        where = f" (chroot {chroot})" if chroot and chroot != "/" else ""
        log.debug("running: %s%s", shown, where)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=_chroot_into(chroot) if chroot and chroot != "/" else None,
            )
        except OSError as exc:
            log.error("cannot start %s%s: %s", shown, where, exc.strerror)
            return Completed(argv, 127, f"{exc.strerror}\n", False, 0.0)
        chunks: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(proc, chunks, stdin), daemon=True)
        reader.start()
        timed_out = _wait(proc, timeout, shown, start)
        reader.join(timeout=5)
        duration = time.monotonic() - start
        output = b"".join(chunks)[:OUTPUT_LIMIT].decode("utf-8", errors="replace")
        result = Completed(argv, proc.returncode, output, timed_out, duration)
        if not result.ok:
            log.warning("failed (%s): %s%s", result.describe(), shown, where)
        return result


def _wait(proc: subprocess.Popen[bytes], timeout: float, shown: str, start: float) -> bool:
    """Wait for `proc`; on timeout kill its whole tree. True when it timed out."""
    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            kill_tree(proc.pid)
            proc.wait()
            return True
        try:
            proc.wait(timeout=min(left, PROGRESS_EVERY))
            return False
        except subprocess.TimeoutExpired:
            if deadline - time.monotonic() > 0:
                # A warning, so it shows without -v: a boot that seems stuck
                # should say what it is waiting for.
                log.warning("still running after %.0fs: %s", time.monotonic() - start, shown)


def kill_tree(pid: int) -> None:
    """SIGKILL the process group of `pid` and every descendant that left it."""
    descendants: list[int] = []
    try:
        import psutil  # lazily: it costs start-up time and is needed only here

        descendants = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:
        pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for child in descendants:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _drain(proc: subprocess.Popen[bytes], chunks: list[bytes], stdin: bytes | None) -> None:
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except OSError:
            pass
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    kept = 0
    while chunk := os.read(fd, 65536):
        if kept < OUTPUT_LIMIT:  # keep draining past the limit so the child never blocks
            chunks.append(chunk)
            kept += len(chunk)


def _chroot_into(directory: str) -> Callable[[], None]:
    def enter() -> None:
        os.chroot(directory)
        os.chdir("/")

    return enter
