"""Micro-benchmark: native `if` evaluation against one `/bin/sh -c`.

Run from the repository root:

    python3 tests/bench/bench_conditions.py [--rounds N]

For each condition (the reference config's three, and Kairos-style ones with
grep and cat | grep) it prints the time of one native evaluation as
`evaluate_if` does it for a step (CondFS set-up and evaluation; "cold" adds
parsing and compiling, which a condition repeated in many steps pays once)
and of one `/bin/sh -c` through the executor's runner, which is what the
fallback costs, and their ratio. Two roots: `/` (the boot: the executor runs
chrooted into the new root) and a fake root directory (a dry-run on a
workstation, where every path is resolved component by component inside it).
Medians of several rounds; nothing is asserted, the figures are for the reader.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from executor.conditions import evaluate_if
from executor.conditions.posix_regex import compile_matcher
from executor.conditions.shell import parse
from executor.conditions.testcmd import compile_test
from executor.context import RunContext
from executor.log import log
from executor.root import Root
from executor.runner import Runner

CONDITIONS = [
    '[ -e "/run/cos/uki_boot_mode" ] && [ ! -e "/run/cos/recovery_mode" ] '
    '&& [ ! -e "/run/cos/autoreset_mode" ]',
    '[ ! -e "/run/cos/uki_boot_mode" ] && [ ! -e "/run/cos/recovery_mode" ] '
    '&& [ ! -e "/run/cos/autoreset_mode" ]',
    '[ ! -e "/run/cos/recovery_mode" ] && [ ! -e "/run/cos/autoreset_mode" ]',
    'grep -vq "rd.immucore.uki" /proc/cmdline',
    'cat /proc/cmdline | grep -q "active.img" && grep -vq "rd.immucore.uki" /proc/cmdline '
    "&& [ ! -f /run/cos/readonly_mode ]",
    'grep -qiFx "QEMU" /sys/class/dmi/id/sys_vendor 2>/dev/null ||\n'
    '  grep -qiE "qemu|kvm|Virtual Machine" /sys/class/dmi/id/product_name 2>/dev/null',
    '(grep -qE "(^| )install-mode( |$)" /proc/cmdline || grep -q "nodepair.enable" /proc/cmdline)'
    " && \\\n([ -f /run/cos/live_mode ] || [ -f /run/cos/uki_install_mode ])",
]


def make_root(base: Path) -> Path:
    for rel, text in {
        "run/cos/live_mode": "",
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=LABEL=COS_ACTIVE active.img install-mode\n",
        "sys/class/dmi/id/sys_vendor": "QEMU\n",
        "sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n",
    }.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def per_call(fn: Callable[[], object], *, rounds: int, batch: int) -> float:
    """Median seconds per call over `rounds` batches of `batch` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - start) / batch)
    return statistics.median(times)


def cold(ctx: RunContext, expr: str) -> None:
    parse.cache_clear()
    compile_test.cache_clear()
    compile_matcher.cache_clear()
    evaluate_if(ctx, expr)


def bench_root(label: str, ctx: RunContext, rounds: int, shell_times: dict[str, float]) -> None:
    print(f"\n{label}")
    print(f"{'warm':>9} {'cold':>9} {'sh -c':>9} {'ratio':>6} {'cold':>6}  condition")
    ratios, cold_ratios = [], []
    for expr in CONDITIONS:
        cond = evaluate_if(ctx, expr)
        assert cond.by == "native", (expr, cond)
        warm = per_call(lambda e=expr: evaluate_if(ctx, e), rounds=rounds, batch=300)
        first = per_call(lambda e=expr: cold(ctx, e), rounds=rounds, batch=100)
        shell = shell_times[expr]
        ratios.append(shell / warm)
        cold_ratios.append(shell / first)
        shown = " ".join(expr.split())
        print(
            f"{warm * 1e6:7.1f}us {first * 1e6:7.1f}us {shell * 1e3:7.2f}ms {shell / warm:5.0f}x "
            f"{shell / first:5.0f}x  {shown[:60]}"
        )
    print(
        f"median ratio {statistics.median(ratios):.0f}x warm (smallest {min(ratios):.0f}x), "
        f"{statistics.median(cold_ratios):.0f}x cold (smallest {min(cold_ratios):.0f}x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    log.level = 100  # the runner logs every `sh -c` that exits non-zero

    runner = Runner()
    shell_times = {
        expr: per_call(
            lambda e=expr: runner.run(["/bin/sh", "-c", e], timeout=10),
            rounds=args.rounds,
            batch=10,
        )
        for expr in CONDITIONS
    }
    typical = statistics.median(shell_times.values())
    print(
        f"one `sh -c` through the runner: median {typical * 1e3:.2f} ms "
        f"over {len(CONDITIONS)} conditions"
    )
    bench_root(
        "root / (the boot, chrooted into the new root)",
        RunContext(root=Root("/")),
        args.rounds,
        shell_times,
    )
    with tempfile.TemporaryDirectory() as tmp:
        fake = RunContext(root=Root(str(make_root(Path(tmp)))))
        bench_root(f"fake root {tmp} (a dry-run on a workstation)", fake, args.rounds, shell_times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
