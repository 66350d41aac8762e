"""Step conditions: the `if` expression and the filters, evaluated in the root.

`check_step` is the one entry point the engine calls. It returns a Verdict:
run, skip (with the reason) or undecided (a dry-run that would need a shell
against a fake root, which it never runs).
"""

from __future__ import annotations

from executor.conditions import native
from executor.conditions.filters import check_filters
from executor.conditions.shell import NotNative, ShellSyntaxError, parse
from executor.context import RunContext
from executor.errors import RootError, StepError
from executor.model import Step
from executor.record import dataclass
from executor.root import Node, Root

MARKER_DIR = "/run/cos"


@dataclass(frozen=True)
class ConditionResult:
    expr: str
    result: bool | None
    by: str  # "native", "shell" or "none"
    detail: str = ""

    def as_json(self) -> dict[str, object]:
        return {"expr": self.expr, "result": self.result, "by": self.by}


@dataclass(frozen=True)
class Verdict:
    run: bool | None  # None: undecided
    reason: str
    condition: ConditionResult | None


class RootCondFS:
    """The root as conditions see it, with the dry-run what-ifs added."""

    def __init__(self, root: Root, markers: tuple[str, ...] = (), cmdline: str | None = None):
        self.root = root
        self.cmdline = cmdline
        self.virtual: set[str] = set()
        for name in markers:
            self.virtual.add(root.resolve(f"{MARKER_DIR}/{name}").rel)
        self.proc_cmdline = root.resolve("/proc/cmdline").rel

    def lookup(self, path: str, *, follow: bool = True) -> Node | None:
        r = self.root.resolve(path, follow=follow)
        if r.rel in self.virtual or (self.cmdline is not None and r.rel == self.proc_cmdline):
            size = 0 if r.rel in self.virtual else len(self.cmdline or "") + 1
            return Node("file", 0o644, 0, 0, size)
        return r.node if r.errno == 0 else None

    def read(self, path: str) -> bytes | None:
        r = self.root.resolve(path)
        if self.cmdline is not None and r.rel == self.proc_cmdline:
            return self.cmdline.encode() + b"\n"
        if r.rel in self.virtual:
            return b""
        try:
            return self.root.read_bytes(path)
        except RootError:
            return None


def cond_fs(ctx: RunContext) -> RootCondFS:
    return RootCondFS(ctx.root, ctx.markers, ctx.cmdline)


def evaluate_if(ctx: RunContext, expr: str) -> ConditionResult:
    """Evaluate `expr` natively when it is in the subset, else with /bin/sh."""
    try:
        status = native.evaluate(parse(expr), cond_fs(ctx))
        return ConditionResult(expr, status == 0, "native")
    except NotNative as exc:
        why = f"outside the native subset ({exc})"
    except ShellSyntaxError as exc:
        why = f"shell syntax error ({exc})"
    return _shell_fallback(ctx, expr, why)


def _shell_fallback(ctx: RunContext, expr: str, why: str) -> ConditionResult:
    root = ctx.root
    if ctx.dry_run and not root.is_host_root:
        return ConditionResult(expr, None, "none", f"{why}: a dry-run runs no shell in a fake root")
    if ctx.markers or ctx.cmdline is not None:
        return ConditionResult(expr, None, "none", f"{why}: what-ifs cannot be shown to a shell")
    if not ctx.can_chroot():
        return ConditionResult(expr, None, "none", f"{why}: cannot chroot into {root.path}")
    done = ctx.runner.run(
        ["/bin/sh", "-c", expr],
        timeout=ctx.timeout,
        chroot=None if root.is_host_root else root.path,
        label=f"if: {expr}",
    )
    if done.timed_out:  # its process group is killed; the step fails, the next one runs
        raise StepError(f"`{expr}` {done.describe()}")
    return ConditionResult(expr, done.returncode == 0, "shell", why)


def check_step(ctx: RunContext, step: Step) -> Verdict:
    """Decide whether `step` runs: filters first, then `if`."""
    reason = check_filters(ctx, step, cond_fs(ctx))
    if reason:
        return Verdict(False, reason, None)
    if not step.if_.strip():
        return Verdict(True, "", None)
    cond = evaluate_if(ctx, step.if_)
    if cond.result is None:
        return Verdict(None, f"condition undecided: {cond.detail}", cond)
    if not cond.result:
        return Verdict(False, f"if: `{step.if_}` is false ({cond.by})", cond)
    return Verdict(True, "", cond)
