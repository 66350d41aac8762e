"""What `datasource` adds to a boot where no provider answers.
Prints figures; asserts nothing.

    python3 tests/bench/bench_datasource.py            # default: 5 rounds
    python3 tests/bench/bench_datasource.py --rounds 9

The stock Kairos provider list (cdrom, gcp, openstack, aws, azure, hetzner,
packet, vultr, digitalocean, metaldata, vmware, config-drive, maas) is
planned in-process, as a real boot would, with every metadata URL sent to
127.0.0.1 (STAGE_EXECUTOR_METADATA_URL), in three worlds:

1. refused: nothing listens on the port (a network with no metadata service
   that answers "no" at once);
2. silent: a socket that accepts connections and never answers (the worst
   case: a metadata address that swallows packets; each request waits for
   its 2 s timeout, and the providers wait at the same time);
3. the same two with the root `/`, so the CD-ROM and config-drive scan
   (blkid over the block devices, /dev/sr*) is included.

Nothing is written: when no provider answers the step fails before any
action is applied.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from executor.context import RunContext  # noqa: E402
from executor.errors import StepError  # noqa: E402
from executor.modules import providers  # noqa: E402
from executor.modules.datasource import plan_datasource  # noqa: E402
from executor.root import Root  # noqa: E402

STOCK = [
    "cdrom",
    "gcp",
    "openstack",
    "aws",
    "azure",
    "hetzner",
    "packet",
    "vultr",
    "digitalocean",
    "metaldata",
    "vmware",
    "config-drive",
    "maas",
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns


def silent_listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(128)  # the kernel accepts; nobody ever reads or answers
    return s


def once(root: str) -> tuple[float, str]:
    ctx = RunContext(root=Root(root))
    start = time.monotonic()
    try:
        plan_datasource(ctx, {"datasource": {"providers": STOCK, "path": "/oem/95_userdata"}})
        outcome = "answered?!"
    except StepError as exc:
        outcome = str(exc).split(";")[0]
    return time.monotonic() - start, outcome


def measure(label: str, root: str, rounds: int) -> None:
    times = []
    outcome = ""
    for _ in range(rounds):
        elapsed, outcome = once(root)
        times.append(elapsed)
    print(
        f"{label:<38} median {statistics.median(times):7.3f} s   max {max(times):7.3f} s"
        f"   ({outcome})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fake_root = tempfile.mkdtemp(prefix="bench-datasource.")
    print(
        f"datasource with the stock provider list, {args.rounds} rounds,"
        f" per-request timeout {providers.PROBE_TIMEOUT:.0f} s"
    )
    os.environ[providers.METADATA_URL_ENV] = f"http://127.0.0.1:{closed_port()}"
    measure("refused, image root (no cdrom scan)", fake_root, args.rounds)
    measure("refused, root / (cdrom scan)", "/", args.rounds)
    listener = silent_listener()
    os.environ[providers.METADATA_URL_ENV] = f"http://127.0.0.1:{listener.getsockname()[1]}"
    measure("silent, image root (no cdrom scan)", fake_root, args.rounds)
    measure("silent, root / (cdrom scan)", "/", args.rounds)
    listener.close()
    os.rmdir(fake_root)


if __name__ == "__main__":
    main()
