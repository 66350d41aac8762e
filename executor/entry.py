"""The process entry point: `stage-executor` and `python -m executor` start here.

`executor.cli.main` is the program (tests call it in-process); this module is
what a boot pays around it. The executor runs a dozen times per boot, so the
two things a process does besides its work, starting and ending, are trimmed
here, each for a measured reason (README, "Boot-time budget").
"""

from __future__ import annotations

import gc
import os
import sys

TYPE_CHECKING = False  # mypy reads it as True; importing `typing` would cost start-up
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> NoReturn:
    # The gen-0 threshold is raised before the imports, not after: importing
    # the package allocates tens of thousands of objects (code, functions,
    # classes), and at the default 700 the collector rescans them repeatedly.
    # A run's objects are acyclic in practice; reference counting frees them.
    gc.set_threshold(50_000, 20, 20)
    from executor.cli import main as cli_main

    exit_now(cli_main())


def exit_now(code: int) -> NoReturn:
    """Flush and leave without tearing the heap down.

    Interpreter finalization frees every object and module one by one (about
    a tenth of a seed run's instructions) to return memory the kernel takes
    back anyway. Nothing of ours needs it: files are closed by the code that
    opened them, the run lock is an flock the kernel drops with the process,
    and no atexit handler is registered. Only the standard streams buffer.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            # What Python's own shutdown does when stdout cannot be flushed
            # (a closed pipe, say): exit status 120.
            code = code or 120
    os._exit(code)
