"""The run: load every source, then for each stage and step decide, plan and apply.

sources -> load -> order -> conditions -> plan -> apply -> report. Library code:
it returns a Report and raises nothing for bad input.
"""

from __future__ import annotations

import time

from executor.actions import NONE, Action
from executor.apply import apply_action
from executor.conditions import ConditionResult, check_step
from executor.context import RunContext
from executor.errors import EntryErrors, Problem, ProblemList, RootError, StepError
from executor.load import LoadResult, load_node, load_text
from executor.log import ERROR, INFO, log
from executor.model import Config
from executor.modules import PLANNERS, used_modules
from executor.order import PlannedStep, plan_run, plan_source
from executor.record import dataclass, field, replace
from executor.sources import Document, SourceGroup

APPLIED, PLANNED, UNCHANGED, SKIPPED, FAILED, UNDECIDED = (
    "applied",
    "planned",
    "unchanged",
    "skipped",
    "failed",
    "undecided",
)


@dataclass
class StepReport:
    stage: str
    source: str
    name: str
    full_name: str
    status: str
    reason: str = ""
    condition: ConditionResult | None = None
    actions: list[Action] = field(default_factory=list)
    started: float | None = None  # wall-clock time (time.time()) the step began
    duration: float | None = None  # seconds, conditions included


@dataclass
class LoadedGroup:
    label: str
    configs: list[Config]
    # What was read, so a default dir can be read again before each substage;
    # `loaded` caches documents by (source, text) so an unchanged one is not
    # parsed (or reported) twice.
    source: SourceGroup | None = None
    loaded: dict[tuple[str, str], Config | None] = field(default_factory=dict)
    strict: bool = False  # warnings count as errors: a document with one does not run


@dataclass(frozen=True)
class WhatIfs:
    """A dry-run's pretend inputs for conditions (SPEC §4), kept in its report."""

    markers: tuple[str, ...] = ()
    cmdline: str | None = None

    def __bool__(self) -> bool:
        return bool(self.markers) or self.cmdline is not None

    def as_json(self) -> dict[str, object]:
        return {"markers": list(self.markers), "cmdline": self.cmdline}

    def describe(self) -> str:
        bits = [f"/run/cos/{m} exists" for m in self.markers]
        if self.cmdline is not None:
            bits.append(f"/proc/cmdline is {self.cmdline!r}")
        return "what-if: " + ", ".join(bits)


@dataclass
class Report(ProblemList):
    command: str
    stage: str
    root: str
    dry_run: bool
    steps: list[StepReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    what_ifs: WhatIfs = field(default_factory=WhatIfs)
    started: float | None = None  # wall-clock time the run began (time.time())
    finished: float | None = None
    sources: list[str] = field(default_factory=list)  # documents read, in run order

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(s.status == FAILED for s in self.steps)


def load_groups(
    groups: list[SourceGroup], *, strict: bool = False, quiet: bool = False
) -> tuple[list[LoadedGroup], list[Problem]]:
    """Parse and validate every document; a document with an error is dropped whole.

    With `strict`, warnings are errors (so a document with one is dropped too).
    A document's problems come in line order. `quiet`: do not log the documents
    that will not run (`validate` runs nothing).
    """
    loaded: list[LoadedGroup] = []
    problems: list[Problem] = []
    for group in groups:
        problems += [strict_problem(p, strict) for p in group.problems]
        target = LoadedGroup(group.label, [], group, strict=strict)
        target.configs, found = _load_documents(group, target.loaded, strict=strict, quiet=quiet)
        problems += found
        loaded.append(target)
    return loaded, problems


def strict_problem(problem: Problem, strict: bool) -> Problem:
    """`problem`, as an error when warnings count as errors."""
    if not strict or problem.severity == "error":
        return problem
    return replace(problem, severity="error")


def _load_documents(
    group: SourceGroup,
    cache: dict[tuple[str, str], Config | None],
    *,
    strict: bool = False,
    quiet: bool = False,
) -> tuple[list[Config], list[Problem]]:
    """Configs of a group's documents; only documents not in `cache` are parsed."""
    configs: list[Config] = []
    problems: list[Problem] = []
    for doc in group.documents:
        key = (doc.source or doc.name, doc.text)
        if key not in cache:
            result = load_document(doc, group.label)
            found = sorted(
                (strict_problem(p, strict) for p in result.problems),
                key=lambda p: (p.line, p.column),
            )
            problems += found
            ok = result.config is not None and not any(p.severity == "error" for p in found)
            cache[key] = result.config if ok else None
            if not ok and not quiet:
                log.error("%s: invalid, none of its steps will run", doc.name)
        config = cache[key]
        if config is not None:
            configs.append(config)
    return configs, problems


def load_document(doc: Document, label: str) -> LoadResult:
    """Load one document as it was read (text, or the command line's nodes)."""
    if doc.node is not None:
        return load_node(doc.node, doc.source or doc.name, group=label, path=doc.name)
    return load_text(doc.text, doc.source or doc.name, group=label, path=doc.name)


def run_stages(
    ctx: RunContext, report: Report, stages: list[str], groups: list[LoadedGroup]
) -> None:
    """Run each stage over each group in order, appending to `report`.

    The order of every stage is computed first, so `after` errors and cycles
    are reported before anything runs. A default dir is read again before
    each substage after the first (kairos-agent walks it for every substage);
    a document that appeared or changed is loaded and ordered then.
    """
    plan = plan_run(groups, stages)
    _add_problems(report, plan.problems)
    for config in plan.dropped:
        log.error("%s: step order errors, none of its steps will run", config.source)
    stopped_by = ""
    for i, stage_plan in enumerate(plan.stages):
        group = groups[i % len(groups)]
        if not stopped_by and i >= len(groups) and _rescan(group, report):
            plans, problems, _ = plan_source(group.configs, [stage_plan.stage], group.label)
            _add_problems(report, problems)
            stage_plan = plans[0]
        for planned in stage_plan.steps:
            if stopped_by:
                report.steps.append(_not_run(planned, stopped_by))
                continue
            step_report = run_step(ctx, planned)
            report.steps.append(step_report)
            _log_step(step_report)
            if ctx.fail_fast and step_report.status == FAILED:
                stopped_by = planned.full_name


def _rescan(group: LoadedGroup, report: Report) -> bool:
    """Read a rescannable source again; True when its documents changed."""
    if group.source is None or group.source.rescan is None:
        return False
    fresh = group.source.rescan()
    configs, problems = _load_documents(fresh, group.loaded, strict=group.strict)
    _add_problems(report, fresh.problems + problems)
    changed = configs != group.configs
    group.configs = configs
    return changed


def _add_problems(report: Report, problems: list[Problem]) -> None:
    report.problems += [p for p in problems if p not in report.problems]


def _not_run(planned: PlannedStep, failed: str) -> StepReport:
    step = planned.step
    return StepReport(
        stage=step.stage,
        source=planned.config.source,
        name=step.name or str(step.index),
        full_name=planned.full_name,
        status=SKIPPED,
        reason=f"not run: --fail-fast stopped the run after {failed} failed",
    )


def run_step(ctx: RunContext, planned: PlannedStep) -> StepReport:
    """Decide, plan and apply one step; its report says when and how long."""
    started, clock = time.time(), time.monotonic()
    runner = ctx.runner
    # The step sees the tree as it finds it, then its own changes; a process
    # it starts (a command, a shell condition, systemctl) may change anything.
    ctx.root.remember_lookups(lambda: runner.spawned)
    try:
        report = _run_step(ctx, planned)
    finally:
        ctx.root.remember_lookups(None)
    report.started, report.duration = started, time.monotonic() - clock
    return report


def _run_step(ctx: RunContext, planned: PlannedStep) -> StepReport:
    step = planned.step
    report = StepReport(
        stage=step.stage,
        source=planned.config.source,
        name=step.name or str(step.index),
        full_name=planned.full_name,
        status=UNCHANGED,
    )
    try:
        verdict = check_step(ctx, step)
    except (RootError, StepError) as exc:  # StepError: a shell condition timed out
        report.status, report.reason = FAILED, f"condition: {exc}"
        return report
    report.condition = verdict.condition
    if verdict.run is None:
        report.status, report.reason = UNDECIDED, verdict.reason
        return report
    if not verdict.run:
        report.status, report.reason = SKIPPED, verdict.reason
        return report
    failures = _run_modules(ctx, planned, report.actions)
    if failures:
        report.status, report.reason = FAILED, "; ".join(failures)
    elif any(a.changes for a in report.actions):
        report.status = PLANNED if ctx.dry_run else APPLIED
    elif report.actions and all(a.skipped for a in report.actions):
        # "unchanged" would say the root is as the step wants; nothing was done
        # (each action's `detail` says why; the human output lists them)
        report.status, report.reason = SKIPPED, "every action was skipped"
    return report


def _run_modules(ctx: RunContext, planned: PlannedStep, done: list[Action]) -> list[str]:
    """Plan and apply each module in turn; return what failed."""
    failures: list[str] = []
    for module in used_modules(planned.step):
        planner = PLANNERS.get(module)
        if planner is None:
            failures.append(f"module {module} is not supported by this executor")
            continue
        try:
            actions = planner(ctx, planned.step)
        except EntryErrors as exc:  # the entries that did not fail are still applied
            actions = exc.actions
            failures += [f"{module}: {message}" for message in exc.messages]
        except (StepError, RootError) as exc:
            failures.append(f"{module}: {exc}")
            continue
        stopped_at = ""
        for action in actions:
            if stopped_at:
                done.append(_not_applied(action, stopped_at))
                continue
            done.append(action)
            try:
                apply_action(ctx, action)
            except StepError as exc:
                failures.append(f"{module}: {exc}")
                if module in CHAINED_MODULES:
                    stopped_at = action.command or action.path or module
    return failures


# Modules whose actions are one chain, each relying on the ones before it
# (layout: a mkfs after a failed `sfdisk --append` could format a stale
# partition node): the first failure stops the rest. Other modules apply
# each entry on its own, so one bad file does not stop the others.
CHAINED_MODULES = frozenset({"layout"})


def _not_applied(action: Action, failed: str) -> Action:
    """`action`, reported as skipped because an earlier one of its chain failed."""
    return replace(
        action, change=NONE, detail=f"skipped: not run after `{failed}` failed", skipped=True
    )


def _log_step(step: StepReport) -> None:
    why = f": {step.reason}" if step.reason else ""
    level = ERROR if step.status == FAILED else INFO  # journalctl -p err shows failed steps
    log.log(level, "%s %s%s", step.full_name, step.status, why)
