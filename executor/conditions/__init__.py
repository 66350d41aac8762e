"""Step conditions: the `if` expression and the filters, evaluated in the root.

`check_step` is the one entry point the engine calls. It returns a Verdict:
run, skip (with the reason) or undecided (a dry-run that would need a shell
against a fake root, which it never runs).
"""

from __future__ import annotations

from executor.conditions import native
from executor.conditions.condfs import MARKER_DIR, CondFS, RootCondFS, cond_fs_for
from executor.conditions.filters import check_filters
from executor.conditions.shell import NotNative, ShellSyntaxError, check_syntax, parse
from executor.context import RunContext
from executor.errors import StepError
from executor.model import Step
from executor.record import dataclass

__all__ = [
    "MARKER_DIR",
    "CondFS",
    "ConditionResult",
    "RootCondFS",
    "Verdict",
    "check_step",
    "check_syntax",
    "evaluate_if",
]


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


def cond_fs(ctx: RunContext) -> CondFS:
    return cond_fs_for(ctx.root, ctx.markers, ctx.cmdline)


def evaluate_if(ctx: RunContext, expr: str, fs: CondFS | None = None) -> ConditionResult:
    """Evaluate `expr` natively when it is in the subset, else with /bin/sh."""
    try:
        status = native.evaluate(parse(expr), fs or cond_fs(ctx))
    except NotNative as exc:
        return _shell_fallback(ctx, expr, f"outside the native subset ({exc})")
    except ShellSyntaxError as exc:
        # dash rejects it (bash too, or runs a lone `!` as false): `sh -c` is false.
        return ConditionResult(expr, False, "native", f"shell syntax error: {exc}")
    return ConditionResult(expr, status == 0, "native")


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
    if done.start_error:  # no shell to ask (a root without /bin/sh): neither true nor false
        raise StepError(f"`{expr.strip()}`: {done.describe()}")
    return ConditionResult(expr, done.returncode == 0, "shell", why)


def check_step(ctx: RunContext, step: Step) -> Verdict:
    """Decide whether `step` runs: filters first, then `if`."""
    fs = cond_fs(ctx)
    reason = check_filters(ctx, step, fs)
    if reason:
        return Verdict(False, reason, None)
    if not step.if_.strip():
        return Verdict(True, "", None)
    expr = step.if_
    if "{{" in expr:  # yip renders `if` as a template before running it
        from executor.modules.templating import render_text

        expr = render_text(ctx, expr, where="if")  # StepError: the step fails, naming it
    _refuse_broken_test(expr)
    cond = evaluate_if(ctx, expr, fs)
    if cond.result is None:
        return Verdict(None, f"condition undecided: {cond.detail}", cond)
    if not cond.result:
        # one line: a block-scalar `if: |` ends in a newline, and the step line is one line
        return Verdict(False, f"if: `{' '.join(expr.split())}` is false ({cond.by})", cond)
    return Verdict(True, "", cond)


def _refuse_broken_test(expr: str) -> None:
    """A `test`/`[` that dash rejects (status 2) fails the step, naming the problem.

    `if` would read status 2 as false (or, under `!`, as true): a silent wrong
    answer to a typo. validate reports the same (validate.check_condition), so
    a loaded document never has one; this covers any other way in.
    """
    try:
        broken = native.test_usage_errors(parse(expr))
    except (NotNative, ShellSyntaxError, RecursionError):
        return  # not for us to judge here: evaluate_if reports these as it always did
    if broken:
        raise StepError(
            f"if: `{expr.strip()}`: {'; '.join(broken)}"
            " (a usage error of test: exit status 2 in the shell)"
        )
