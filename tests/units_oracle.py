"""Helpers for comparing our unit links with `systemctl --root` (the oracle).

Shared by the differential tests. `ours()` runs the systemctl module the way
the engine does (plan, then apply each action) on a real temp-dir root with
the live-system check forced off; `theirs()` runs the real systemctl.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from executor.apply import apply_action
from executor.context import RunContext
from executor.errors import StepError
from executor.model import SystemctlSpec
from executor.modules.systemctl import plan_systemctl
from executor.root import Root

SYSTEMCTL_ENV = {**os.environ, "SYSTEMCTL_SKIP_SYSV": "1", "LC_ALL": "C", "SYSTEMD_LOG_COLOR": "0"}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


def ours(root: Path, verb: str, *names: str) -> Outcome:
    """Plan and apply `systemctl VERB NAMES` natively in `root`."""
    ctx = RunContext(root=Root(str(root)), _live=False)
    spec = SystemctlSpec(**{verb: tuple(names)})
    try:
        actions = plan_systemctl(ctx, spec)
        for action in actions:
            apply_action(ctx, action)
    except StepError as exc:
        return Outcome(False, str(exc))
    return Outcome(True, "; ".join(a.detail for a in actions if a.detail))


def theirs(root: Path, verb: str, *names: str) -> Outcome:
    done = subprocess.run(
        ["systemctl", f"--root={root}", verb, *names],
        capture_output=True,
        text=True,
        env=SYSTEMCTL_ENV,
        check=False,
    )
    return Outcome(done.returncode == 0, done.stderr.strip())


def links(root: Path, *, resolve: bool = False) -> dict[str, str]:
    """Every symlink below ROOT/etc: in-root path -> target.

    With `resolve`, absolute targets are resolved inside the root (so that
    /lib/... and /usr/lib/... compare equal where lib -> usr/lib).
    """
    out = {}
    base = root / "etc"
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                continue
            target = os.readlink(path)
            if resolve and target.startswith("/"):
                real = os.path.realpath(str(root) + target)
                rel = os.path.relpath(real, os.path.realpath(root))
                target = "/" + rel if not rel.startswith("..") else target
            out["/" + str(path.relative_to(root))] = target
    return out


def dirs(root: Path) -> set[str]:
    """Directories below ROOT/etc/systemd/system (emptied ones must go, as systemctl does)."""
    base = root / "etc/systemd/system"
    return {
        "/" + str((Path(d) / n).relative_to(root))
        for d, dirnames, _ in os.walk(base)
        for n in dirnames
        if not (Path(d) / n).is_symlink()
    }


def diff(a: dict[str, str], b: dict[str, str]) -> list[str]:
    lines = []
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            lines.append(f"{key}: ours {a.get(key)!r}, systemctl {b.get(key)!r}")
    return lines


def compare_outcomes(
    where: str, a: Outcome, b: Outcome, mine: Path, real: Path, *, resolve: bool
) -> list[str]:
    """Differences after one verb: success or failure, links, and .wants dirs."""
    out = []
    if a.ok != b.ok:
        out.append(
            f"{where}: ours {'ok' if a.ok else 'failed'} ({a.message!r}), "
            f"systemctl {'ok' if b.ok else 'failed'} ({b.message!r})"
        )
    out += [
        f"{where}: {d}" for d in diff(links(mine, resolve=resolve), links(real, resolve=resolve))
    ]
    if dirs(mine) != dirs(real):
        out.append(
            f"{where}: dirs ours {sorted(dirs(mine) - dirs(real))}, "
            f"systemctl {sorted(dirs(real) - dirs(mine))}"
        )
    return out
