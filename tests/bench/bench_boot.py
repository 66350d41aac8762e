"""Boot-time budget benchmark. Prints figures; asserts nothing.

Run from the repository root:

    python3 tests/bench/bench_boot.py                  # 101 pairs, then figures 2-5
    python3 tests/bench/bench_boot.py --startup-only --pairs 201
    python3 tests/bench/bench_boot.py --startup-only --source /tmp/old-checkout

1. start-up, the figure a boot pays a dozen times: the installed
   `stage-executor apply -s initramfs.after --root FRESH configs/sysext-opt.yaml`
   against `python -c "import yaml"`, both with the interpreter of a clean
   virtual environment this script makes (`python3 -m venv`, the package
   installed from a copy of the source, not editable, with its dependencies,
   bytecode compiled, as `pip install` does). The fresh roots sit on a tmpfs
   (/dev/shm), as the seed's writes do at `initramfs.after` on a Kairos node:
   immucore mounts /etc (and /var, /opt, /srv, /home, /root, /usr/local) as
   overlays whose upper layer is a tmpfs, and /run is a tmpfs; a second series
   puts the roots on the disk of the benchmark's temporary directory, where
   creating a file or directory can cost far more (0.4 ms on the ext4 of
   these virtual machines) than the executor's start-up. Measured as pairs: each apply
   run next to its own baseline run (in alternating order), and the figure is
   the median of the per-pair ratios, so a load spike hits both sides of a
   pair; medians of two unpaired series let noise pass for a result. Beside
   the wall clock: CPU time (user, sys) and minor page faults from wait4
   (a fault costs microseconds in a virtual machine), and the instruction
   counts of both under callgrind (load does not move them; they differ by
   about 0.1 % between runs, with the hash seed; needs valgrind), and the
   syscalls of one apply run (strace -c, when strace is there);
2. processes the seed stage spawns in a root (the runner's counter, strace);
3. a generated source of 10,000 steps (1,000 files x 10 steps of files with
   `[ -e ]` conditions): dry-run wall time, and its ratio to 1,000 steps;
4. native condition cost per evaluation against one `sh -c`;
5. peak memory (max RSS) of the 10,000-step dry-run.

The environment of every measured process is the caller's without PYTHON*
variables (PYTHONUNBUFFERED would make our output unbuffered; a boot under
systemd has none of them).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "configs" / "sysext-opt.yaml"
PY = sys.executable
EXECUTOR = [PY, "-m", "executor"]
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
ENV = {**CLEAN_ENV, "PYTHONPATH": str(REPO)}


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


Run = tuple[float, int, float, float, int]  # timed(): wall, peak RSS, user, sys, minor faults


def timed(argv: list[str], *, cwd: Path = REPO, env: dict[str, str] = ENV) -> Run:
    """Wall time, peak RSS (KiB), user and sys CPU seconds, minor faults of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {argv}")
    return elapsed, usage.ru_maxrss, usage.ru_utime, usage.ru_stime, usage.ru_minflt


# -- 1. start-up in a clean virtual environment ---------------------------------------


def make_venv(base: Path, source: Path) -> Path:
    """A clean venv with the package at `source` installed as a user would; its bin dir."""
    venv = base / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True)
    # a copy, so that building the wheel leaves no build/ in the checkout
    src = base / "src"
    src.mkdir()
    for name in ("executor", "pyproject.toml", "README.md"):
        if (source / name).is_dir():
            shutil.copytree(source / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source / name, src / name)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            PY,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            str(src),
        ],
        check=True,
        env=CLEAN_ENV,
    )
    site = subprocess.run(
        [str(python), "-c", "import executor, os; print(os.path.dirname(executor.__file__))"],
        check=True,
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        cwd=base,
    ).stdout.strip()
    # pip compiles bytecode already; this makes sure of it (PYTHONDONTWRITEBYTECODE)
    subprocess.run([str(python), "-m", "compileall", "-q", site], check=True, env=CLEAN_ENV)
    return venv / "bin"


def instructions(argv: list[str], cwd: Path) -> int | None:
    """Instructions the process executes, counted by callgrind; None without valgrind."""
    valgrind = shutil.which("valgrind")
    if not valgrind:
        return None
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        cwd=cwd,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if found else None


def syscalls(argv: list[str], cwd: Path, base: Path) -> str:
    strace = shutil.which("strace")
    if not strace:
        return "strace not installed"
    out = base / "strace-c.txt"
    subprocess.run(
        [strace, "-f", "-c", "-o", str(out), *argv],
        cwd=cwd,
        env=CLEAN_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    counts: dict[str, int] = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        # the closing "total" row would count every call twice
        if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    total = sum(counts.values())
    syncs = counts.get("fsync", 0) + counts.get("fdatasync", 0)
    return f"{total} syscalls, {syncs} fsync"


def tmpfs_dir() -> Path | None:
    """/dev/shm when it is a tmpfs (it is on Linux hosts and in most containers)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "/dev/shm" and fields[2] == "tmpfs":
            return Path("/dev/shm")
    return None


def paired_series(
    baseline_argv: list[str],
    apply_argv: Callable[[Path], list[str]],
    roots: Path,
    pairs: int,
    work: Path,
) -> tuple[list[float], list[Run], list[Run]]:
    """Per-pair wall ratios, apply runs and baseline runs, each pair in alternating order."""
    for i in range(2):  # warm the page cache and the venv's bytecode
        timed(baseline_argv, cwd=work, env=CLEAN_ENV)
        timed(apply_argv(fresh_seed_root(roots, 100_000 + i)), cwd=work, env=CLEAN_ENV)
    ratios: list[float] = []
    ours: list[Run] = []
    base_runs: list[Run] = []
    for i in range(pairs):
        root = fresh_seed_root(roots, i)
        if i % 2:  # alternate which side of a pair runs first
            b = timed(baseline_argv, cwd=work, env=CLEAN_ENV)
            o = timed(apply_argv(root), cwd=work, env=CLEAN_ENV)
        else:
            o = timed(apply_argv(root), cwd=work, env=CLEAN_ENV)
            b = timed(baseline_argv, cwd=work, env=CLEAN_ENV)
        ours.append(o)
        base_runs.append(b)
        ratios.append(o[0] / b[0])
    return ratios, ours, base_runs


def print_series(
    title: str, ratios: list[float], ours: list[Run], base_runs: list[Run], target: str
) -> None:
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3

    def ms(runs: list[Run], k: int) -> float:
        return statistics.median(r[k] for r in runs) * 1000

    def faults(runs: list[Run]) -> int:
        return round(statistics.median(r[4] for r in runs))

    print(
        f"{title}: paired wall ratio median {statistics.median(ratios):.2f}"
        f" (quartiles {q[0]:.2f}-{q[2]:.2f}{target})"
    )
    print(
        f"   wall medians: apply {ms(ours, 0):.1f} ms, `import yaml` {ms(base_runs, 0):.1f} ms;"
        f" CPU user+sys: apply {ms(ours, 2):.1f}+{ms(ours, 3):.1f} ms,"
        f" `import yaml` {ms(base_runs, 2):.1f}+{ms(base_runs, 3):.1f} ms;"
        f" minor page faults: {faults(ours)} and {faults(base_runs)}"
    )


def bench_startup(base: Path, pairs: int, source: Path) -> None:
    bindir = make_venv(base, source)
    python, script = str(bindir / "python"), str(bindir / "stage-executor")
    work = base / "cwd"  # neither the checkout nor the venv: nothing importable by accident
    work.mkdir()
    baseline_argv = [python, "-c", "import yaml"]

    def apply_argv(root: Path) -> list[str]:
        return [script, "apply", "-s", "initramfs.after", "--root", str(root), str(SEED)]

    shm = tmpfs_dir()
    with tempfile.TemporaryDirectory(prefix="se-bench-roots-", dir=shm) as tmp_roots:
        boot_roots = Path(tmp_roots)  # in the system's temporary directory without a tmpfs
        where = "roots on a tmpfs, as in a boot" if shm else "no tmpfs at /dev/shm: roots on disk"
        ratios, ours, base_runs = paired_series(baseline_argv, apply_argv, boot_roots, pairs, work)
        print_series(
            f"1. start-up of a seed apply, clean venv, {pairs} pairs, {where}",
            ratios,
            ours,
            base_runs,
            "; target <= 1.3",
        )
        ins_base = instructions(baseline_argv, work)
        ins_ours = instructions(apply_argv(fresh_seed_root(boot_roots, 200_000)), work)
        syscall_line = syscalls(apply_argv(fresh_seed_root(boot_roots, 300_000)), work, base)
    if shm:
        disk = paired_series(baseline_argv, apply_argv, base / "disk-roots", pairs, work)
        print_series(f"   the same, {pairs} pairs, roots on disk ({base})", *disk, "")
    if ins_base and ins_ours:
        print(
            f"   instructions (callgrind): apply {ins_ours / 1e6:.1f}M, `import yaml`"
            f" {ins_base / 1e6:.1f}M, ratio {ins_ours / ins_base:.3f} (target <= 1.25)"
        )
    else:
        print("   instructions: valgrind not installed (apt-get install valgrind)")
    print(f"   one apply run: {syscall_line}")


# -- 2. to 5. ---------------------------------------------------------------------------


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
            [
                strace,
                "-f",
                "-qq",
                "-o",
                str(log),
                "-e",
                "trace=execve,fork,vfork,clone,clone3",
                *EXECUTOR,
                "apply",
                "-s",
                "initramfs.after",
                "--root",
                str(root2),
                str(SEED),
            ],
            cwd=REPO,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        text = log.read_text()
        execs = sum(1 for ln in text.splitlines() if "execve(" in ln and "= 0" in ln)
        forks = sum(
            1
            for ln in text.splitlines()
            if any(f"{c}(" in ln for c in ("fork", "vfork", "clone", "clone3"))
            and "CLONE_THREAD" not in ln
        )
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
                f'          content: "value {f} {s}\\n"',
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
        t_small.append(
            timed(
                [
                    *EXECUTOR,
                    "apply",
                    "-s",
                    "boot",
                    "--dry-run",
                    "--json",
                    "--root",
                    str(root),
                    str(small),
                ]
            )[0]
        )
        elapsed, peak, *_ = timed(
            [
                *EXECUTOR,
                "apply",
                "-s",
                "boot",
                "--dry-run",
                "--json",
                "--root",
                str(root),
                str(large),
            ]
        )
        t_large.append(elapsed)
        rss.append(peak)
    s, big = statistics.median(t_small), statistics.median(t_large)
    print(
        f"3. 10,000-step dry-run {big:.2f} s (target <= 2 s); 1,000 steps {s:.2f} s;"
        f" 10x steps cost {big / s:.1f}x time (target <= 12x; medians of {runs})"
    )
    print(
        f"5. peak memory of the 10,000-step dry-run: {max(rss) / 1024:.0f} MiB (target <= 150 MiB)"
    )


def bench_conditions(rounds: int) -> None:
    sys.path.insert(0, str(REPO))
    from executor.conditions import RootCondFS
    from executor.conditions.native import evaluate
    from executor.conditions.shell import parse
    from executor.root import Root

    expr = (
        '[ -e "/run/cos/uki_boot_mode" ] && [ ! -e "/run/cos/recovery_mode" ]'
        ' && [ ! -e "/run/cos/autoreset_mode" ]'
    )
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
    print(
        f"4. condition: native {a * 1e6:.1f} us (parse + evaluate), one `sh -c` "
        f"{b * 1e6:.0f} us: native is {b / a:.0f}x cheaper (target >= 50x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 101 pairs take about 25 s per series: single pairs spread over ~0.25 (the
    # quartiles) on a shared machine, and medians of 41 moved from 1.28 to 1.33
    parser.add_argument("--pairs", type=int, default=101, help="start-up pairs of figure 1")
    parser.add_argument("--rounds", type=int, default=21, help="repetitions of figures 3-5")
    parser.add_argument("--startup-only", action="store_true", help="only figure 1")
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO,
        help="the checkout to install for figure 1 (default: this one)",
    )
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]} on {os.cpu_count()} cores; pairs {args.pairs};"
        f" rounds {args.rounds}; source {args.source}"
    )
    with tempfile.TemporaryDirectory(prefix="se-bench-") as tmp:
        base = Path(tmp)
        bench_startup(base, args.pairs, args.source.resolve())
        if args.startup_only:
            return
        # An installed package has its bytecode compiled (pip does it); a checkout
        # may not (PYTHONDONTWRITEBYTECODE), and compiling every module on every
        # start would measure the compiler, not the executor.
        subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "executor")], check=True)
        bench_processes(base)
        bench_scaling(base, args.rounds)
        bench_conditions(args.rounds)


if __name__ == "__main__":
    main()
