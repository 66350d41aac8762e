"""Boot-time budget benchmark (issue 8). Prints figures; asserts nothing.

Run from the repository root:

    python3 tests/bench/bench_boot.py            # default: 15 rounds
    python3 tests/bench/bench_boot.py --rounds 31

Everything is measured in one run, interleaved (A B A B ...), medians reported,
so the figures are ratios taken under the same machine load:

1. start-up: `apply -s initramfs.after --root R configs/sysext-opt.yaml` on a
   fresh root, wall time divided by `python3 -c "import yaml"`;
2. processes the seed stage spawns in a root (strace when present, and the
   runner's own counter in-process);
3. a generated source of 10,000 steps (1,000 files x 10 steps of files with
   `[ -e ]` conditions): dry-run wall time, and its ratio to 1,000 steps;
4. native condition cost per evaluation against one `sh -c`;
5. peak memory (max RSS) of the 10,000-step dry-run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "configs" / "sysext-opt.yaml"
PY = sys.executable
EXECUTOR = [PY, "-m", "executor"]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def fresh_seed_root(base: Path, i: int) -> Path:
    root = base / f"root{i}"
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/systemctl").write_text("")
    (root / "run/cos").mkdir(parents=True)
    (root / "usr/lib/systemd/system/systemd-sysext.service").write_text(
        "[Unit]\nDescription=sysext\n[Service]\nType=oneshot\nExecStart=true\n"
        "[Install]\nWantedBy=sysinit.target\n"
    )
    return root


def timed(argv: list[str], *, cwd: Path = REPO) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one process, measured by wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {argv}")
    return elapsed, usage.ru_maxrss


def bench_startup(base: Path, rounds: int) -> None:
    ours: list[float] = []
    baseline: list[float] = []
    for i in range(rounds):
        root = fresh_seed_root(base, i)
        baseline.append(timed([PY, "-c", "import yaml"])[0])
        ours.append(timed([*EXECUTOR, "apply", "-s", "initramfs.after", "--root", str(root),
                           str(SEED)])[0])
    b, o = statistics.median(baseline), statistics.median(ours)
    print(f"1. start-up: seed apply {o * 1000:.1f} ms, `import yaml` {b * 1000:.1f} ms,"
          f" ratio {o / b:.2f} (target <= 1.3; medians of {rounds}, interleaved)")


def bench_processes(base: Path) -> None:
    root = fresh_seed_root(base, 10_000)
    sys.path.insert(0, str(REPO))
    from executor.cli import main
    from executor.runner import Runner

    counted: list[Runner] = []
    original = Runner.__init__

    def spy(self: Runner) -> None:
        original(self)
        counted.append(self)

    Runner.__init__ = spy  # type: ignore[method-assign]
    stdout = sys.stdout
    try:
        with open(os.devnull, "w") as sys.stdout:
            main(["apply", "-s", "initramfs.after", "--root", str(root), str(SEED), "--json"])
    finally:
        sys.stdout = stdout
        Runner.__init__ = original  # type: ignore[method-assign]
    spawned = sum(r.spawned for r in counted)
    line = f"2. processes spawned by the seed stage in a root: runner counter {spawned}"
    strace = shutil.which("strace")
    if strace:
        root2 = fresh_seed_root(base, 10_001)
        log = base / "strace.log"
        subprocess.run(
            [strace, "-f", "-qq", "-o", str(log), "-e", "trace=execve,fork,vfork,clone,clone3",
             *EXECUTOR, "apply", "-s", "initramfs.after", "--root", str(root2), str(SEED)],
            cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            check=False,
        )
        text = log.read_text()
        execs = sum(1 for ln in text.splitlines() if "execve(" in ln and "= 0" in ln)
        forks = sum(1 for ln in text.splitlines()
                    if any(f"{c}(" in ln for c in ("fork", "vfork", "clone", "clone3"))
                    and "CLONE_THREAD" not in ln)
        line += f"; strace: {execs - 1} execve after the interpreter's own, {forks} fork/clone"
    print(line + " (target 0)")


def write_generated(directory: Path, files: int, steps: int) -> None:
    directory.mkdir(parents=True)
    for f in range(files):
        lines = [f"name: gen{f:04d}", "stages:", "  boot:"]
        for s in range(steps):
            lines += [
                f"    - name: step{s}",
                f"      if: '[ ! -e \"/run/cos/marker{s % 3}\" ]'",
                "      files:",
                f"        - path: /etc/gen/{f:04d}/{s}.conf",
                "          permissions: 0644",
                f"          content: \"value {f} {s}\\n\"",
            ]
        (directory / f"{f:04d}.yaml").write_text("\n".join(lines) + "\n")


def bench_scaling(base: Path, rounds: int) -> None:
    small, large = base / "gen1k", base / "gen10k"
    write_generated(small, 100, 10)
    write_generated(large, 1000, 10)
    root = base / "empty-root"
    root.mkdir()
    t_small: list[float] = []
    t_large: list[float] = []
    rss: list[int] = []
    runs = max(3, rounds // 3)
    for _ in range(runs):
        t_small.append(timed([*EXECUTOR, "apply", "-s", "boot", "--dry-run", "--json",
                              "--root", str(root), str(small)])[0])
        elapsed, peak = timed([*EXECUTOR, "apply", "-s", "boot", "--dry-run", "--json",
                               "--root", str(root), str(large)])
        t_large.append(elapsed)
        rss.append(peak)
    s, big = statistics.median(t_small), statistics.median(t_large)
    print(f"3. 10,000-step dry-run {big:.2f} s (target <= 2 s); 1,000 steps {s:.2f} s;"
          f" 10x steps cost {big / s:.1f}x time (target <= 12x; medians of {runs})")
    print(f"5. peak memory of the 10,000-step dry-run: {max(rss) / 1024:.0f} MiB"
          " (target <= 150 MiB)")


def bench_conditions(rounds: int) -> None:
    sys.path.insert(0, str(REPO))
    from executor.conditions import RootCondFS
    from executor.conditions.native import evaluate
    from executor.conditions.shell import parse
    from executor.root import Root

    expr = ('[ -e "/run/cos/uki_boot_mode" ] && [ ! -e "/run/cos/recovery_mode" ]'
            ' && [ ! -e "/run/cos/autoreset_mode" ]')
    fs = RootCondFS(Root("/"))
    n = 2000
    native: list[float] = []
    shell: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            evaluate(parse(expr), fs)
        native.append((time.perf_counter() - start) / n)
        start = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", expr], check=False)
        shell.append(time.perf_counter() - start)
    a, b = statistics.median(native), statistics.median(shell)
    print(f"4. condition: native {a * 1e6:.1f} us (parse + evaluate), one `sh -c` "
          f"{b * 1e6:.0f} us: native is {b / a:.0f}x cheaper (target >= 50x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; rounds {args.rounds}")
    # An installed package has its bytecode compiled (pip does it); a checkout
    # may not (PYTHONDONTWRITEBYTECODE), and compiling every module on every
    # start would measure the compiler, not the executor.
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "executor")], check=True)
    with tempfile.TemporaryDirectory(prefix="se-bench-") as tmp:
        base = Path(tmp)
        bench_startup(base, args.rounds)
        bench_processes(base)
        bench_scaling(base, args.rounds)
        bench_conditions(args.rounds)


if __name__ == "__main__":
    main()
