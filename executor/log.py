"""Log lines on stderr, which the journal captures under systemd.

A tiny logger instead of the standard `logging` package: importing `logging`
(with `traceback`, `tokenize`, `string` ...) costs several milliseconds of a
start-up budget that is paid a dozen times per boot, and this program needs
one stream with a level, nothing more.

When stderr is the journal (systemd sets JOURNAL_STREAM to its device:inode),
each line starts with a `<N>` priority prefix, which journald turns into the
entry's priority instead of showing it. There, info lines are kept too (one
per step, written as the step ends), so the journal shows when each step ran,
and the output streams are line-buffered: a pipe to journald would otherwise
hold a run's lines until exit and give them all one timestamp.
"""

from __future__ import annotations

import os
import sys

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
_NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error"}
_SYSLOG_PRIORITY = {DEBUG: 7, INFO: 6, WARNING: 4, ERROR: 3}


def _stderr_is_journal() -> bool:
    stream = os.environ.get("JOURNAL_STREAM", "")
    if ":" not in stream:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


class Logger:
    def __init__(self, name: str) -> None:
        self.name = name
        self.level = WARNING
        self._journal: bool | None = None

    def journal(self) -> bool:
        """stderr is the journal (checked once)."""
        if self._journal is None:
            self._journal = _stderr_is_journal()
        return self._journal

    def log(self, level: int, message: str, *args: object) -> None:
        if level < self.level and not (level >= INFO and self.journal()):
            return
        text = message % args if args else message
        prefix = f"<{_SYSLOG_PRIORITY[level]}>" if self.journal() else ""
        try:
            sys.stderr.write(f"{prefix}{self.name}: {_NAMES[level]}: {text}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not fail the boot stage

    def debug(self, message: str, *args: object) -> None:
        self.log(DEBUG, message, *args)

    def info(self, message: str, *args: object) -> None:
        self.log(INFO, message, *args)

    def warning(self, message: str, *args: object) -> None:
        self.log(WARNING, message, *args)

    def error(self, message: str, *args: object) -> None:
        self.log(ERROR, message, *args)


def line_buffer_output() -> None:
    """Flush stdout and stderr at every newline when they are not a terminal.

    Under systemd both are a pipe to journald, which stamps each line with the
    time it arrives: block buffering would stamp a whole run with its exit time.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            if not stream.isatty():
                reconfigure(line_buffering=True)
        except (OSError, ValueError):
            pass  # a closed or odd stream: leave it as it is


log = Logger("stage-executor")
