"""What a command that leaves a process behind costs a boot (issue 14, item 11).

Prints figures; asserts nothing. Run from the repository root:

    python3 tests/bench/bench_background.py            # 5 rounds
    python3 tests/bench/bench_background.py --rounds 9

For each round, the runner runs `/bin/sh -c 'sleep 30 & echo started'` on
the host and `/bin/sh -c 'echo started'` for comparison; the medians of the
wall times are printed. The background sleeps are killed by pid afterwards.
Before the fix the first figure was 5 s (the reader thread's join timeout).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())

from executor.runner import Runner


def one(command: str) -> tuple[float, str]:
    start = time.monotonic()
    done = Runner().run(["/bin/sh", "-c", command])
    return time.monotonic() - start, done.output


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    background: list[float] = []
    plain: list[float] = []
    pids: list[int] = []
    for _ in range(rounds):
        took, output = one("sleep 30 & echo $!")
        background.append(took)
        pids.append(int(output.split()[0]))
        plain.append(one("echo started")[0])
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print(f"rounds: {rounds}")
    print(f"`sleep 30 & echo $!`: median {statistics.median(background) * 1000:.0f} ms")
    print(f"`echo started`:       median {statistics.median(plain) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
