"""The one place that starts processes.

Commands, shell conditions and live `systemctl` calls all go through
`Runner.run`: keyword-only options, a timeout that kills the whole process
group (and any child that left it), a "still running" log line every 10 s,
and the failing command logged as a line an operator can paste.

Each process gets `STAGE_EXECUTOR_JOB=<random token>` in its environment. On
timeout the process group is killed, then every descendant psutil can see,
then every process still carrying the token: that catches a daemon that
double-forked and setsid()'d away from both the group and the parent chain.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from executor.log import log
from executor.record import dataclass

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    import subprocess
    from typing import Any

# subprocess, threading and shlex are imported by Runner.run, not here: a boot
# stage that starts no process (the seed stage in a root) does not pay for them.

DEFAULT_TIMEOUT = 300.0  # seconds; a boot stage must not hang forever
JOB_ENV = "STAGE_EXECUTOR_JOB"  # marks every process a run starts, for the kill
KILL_ROUNDS = 5  # sweeps for stragglers forked while we were killing
OUTPUT_LIMIT = 1 << 20  # bytes of output kept in memory per process
PROGRESS_EVERY = 10.0  # seconds between "still running" lines
DRAIN_AFTER_EXIT = 0.2  # at most, seconds of output read after the command exits (_drain)
DRAIN_QUIET = 0.02  # seconds without output after the exit that end the reading
_EOF = b""  # appended by _drain when the output pipe was read to its end


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr interleaved, capped at OUTPUT_LIMIT
    timed_out: bool = False
    duration: float = 0.0
    start_error: str = ""  # why the process could not be started (returncode is then 127)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        if self.start_error:  # not the command's status: it never ran
            return f"cannot start {self.argv[0] if self.argv else 'it'}: {self.start_error}"
        if self.timed_out:
            return f"timed out after {self.duration:.0f}s"
        if self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        if self.returncode == 127:  # the shell's (and POSIX's) "command not found"
            return "exit status 127: command not found"
        if self.returncode == 126:
            return "exit status 126: found but not executable"
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
        expected: Sequence[int] = (0,),
    ) -> Completed:
        """Run `argv`; never raises for a failing or hanging command.

        `expected`: exit statuses the caller reads as answers, not failures
        (blkid's 2 "nothing found", e2fsck's 1 "corrected"), so they are not
        logged as failed; the caller still decides what they mean.
        """
        import shlex
        import subprocess
        import threading

        argv = tuple(argv)
        self.spawned += 1
        shown = label or shlex.join(argv)
        where = f" (chroot {chroot})" if chroot and chroot != "/" else ""
        log.debug("running: %s%s", shown, where)
        start = time.monotonic()
        token = os.urandom(8).hex()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**(os.environ if env is None else env), JOB_ENV: token},
                cwd="/",
                start_new_session=True,  # its own process group, killed as one
                preexec_fn=_chroot_into(chroot) if chroot and chroot != "/" else None,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            # ValueError: a NUL byte in an argument or the environment
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            log.error("cannot start %s: %s", pasteable(argv, chroot), why)
            return Completed(argv, 127, f"{why}\n", False, 0.0, start_error=why)
        chunks: list[bytes] = []
        wake_r, wake_w = os.pipe()  # tells the reader the command has exited
        reader = threading.Thread(target=_drain, args=(proc, chunks, stdin, wake_r), daemon=True)
        reader.start()
        try:
            timed_out = _wait(proc, timeout, shown, start, token)
        finally:
            os.write(wake_w, b"x")
            reader.join(timeout=DRAIN_AFTER_EXIT + 1)
            os.close(wake_w)
            os.close(wake_r)
        if not chunks or chunks[-1] is not _EOF:
            # `cmd &` leaves a process holding our pipe: its output is not the
            # command's, and waiting for its end would hold the boot up
            log.info(
                "not waiting for output after the command exited (a background"
                " process still holds its stdout/stderr): %s",
                shown,
            )
        assert proc.stdout is not None
        proc.stdout.close()
        duration = time.monotonic() - start
        data = b"".join(c for c in chunks if c is not _EOF)[:OUTPUT_LIMIT]
        output = data.decode("utf-8", errors="replace")
        result = Completed(argv, proc.returncode, output, timed_out, duration)
        if timed_out or proc.returncode not in expected:
            log.warning("failed (%s): %s", result.describe(), pasteable(argv, chroot))
        return result


def pasteable(argv: Sequence[str], chroot: str | None) -> str:
    """The command as a shell line an operator can paste to run it again."""
    import shlex

    if chroot and chroot != "/":
        return shlex.join(["chroot", chroot, *argv])
    return shlex.join(argv)


def _wait(
    proc: subprocess.Popen[bytes], timeout: float, shown: str, start: float, token: str = ""
) -> bool:
    """Wait for `proc`; on timeout kill its whole tree. True when it timed out."""
    import subprocess

    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            log.warning("timed out after %.0fs, killing: %s", timeout, shown)
            kill_tree(proc.pid, token)
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


def kill_tree(pid: int, token: str = "") -> None:
    """SIGKILL the process group of `pid`, every descendant that left it, and
    (with `token`) every process whose environment carries our job token."""
    try:
        import psutil  # lazily: it costs start-up time and is needed only here
    except ImportError:  # pragma: no cover - a declared dependency
        psutil = None  # type: ignore[assignment]
    descendants: list[int] = []
    if psutil is not None:
        try:
            descendants = [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            pass
    import signal  # here, not at the top: only a command that timed out needs it

    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for child in descendants:
        _kill(child)
    if not token or psutil is None:
        return
    for _ in range(KILL_ROUNDS):  # a process may fork while we look
        marked = _processes_with_token(psutil, token)
        if not marked:
            return
        for child_pid in marked:
            _kill(child_pid)
        time.sleep(0.01)


def _processes_with_token(psutil: Any, token: str) -> list[int]:
    """Pids of live processes whose environment has JOB_ENV=token."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(JOB_ENV) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue  # gone, or not ours to read
    return found


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _drain(
    proc: subprocess.Popen[bytes], chunks: list[bytes], stdin: bytes | None, wake: int
) -> None:
    """Read the command's output until EOF, or until it exited and the pipe went quiet.

    A process the command left in the background (`cmd &`) inherits the pipe,
    so EOF may come only when that process ends. Once the command itself has
    exited (`wake` becomes readable), what it wrote is already in the pipe:
    read while data is ready, stop at the first DRAIN_QUIET without any (or
    after DRAIN_AFTER_EXIT in all, for a background writer that never
    pauses). `_EOF` appended: the pipe was read to its end.
    """
    import select

    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except OSError:
            pass
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    kept = 0
    stop_at: float | None = None
    while True:
        if stop_at is None:
            ready, _, _ = select.select([fd, wake], [], [])
            if wake in ready:
                stop_at = time.monotonic() + DRAIN_AFTER_EXIT
        else:
            left = stop_at - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, min(DRAIN_QUIET, left)))
        if fd not in ready:
            if stop_at is not None and (not ready or time.monotonic() >= stop_at):
                return
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            chunks.append(_EOF)
            return
        if kept < OUTPUT_LIMIT:  # keep draining past the limit so the child never blocks
            chunks.append(chunk)
            kept += len(chunk)
        if stop_at is not None and time.monotonic() >= stop_at:
            return


def _chroot_into(directory: str) -> Callable[[], None]:
    def enter() -> None:
        os.chroot(directory)
        os.chdir("/")

    return enter
