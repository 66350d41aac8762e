"""The run: load every source, then for each stage and step decide, plan and apply.

sources -> load -> order -> conditions -> plan -> apply -> report. Library code:
it returns a Report and raises nothing for bad input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from executor.actions import Action
from executor.apply import apply_action
from executor.conditions import ConditionResult, check_step
from executor.context import RunContext
from executor.errors import Problem, RootError, StepError
from executor.load import load_text
from executor.model import Config
from executor.modules import PLANNERS, used_modules
from executor.order import PlannedStep, order_stage
from executor.sources import SourceGroup

log = logging.getLogger("stage-executor")

APPLIED, PLANNED, UNCHANGED, SKIPPED, FAILED, UNDECIDED = (
    "applied", "planned", "unchanged", "skipped", "failed", "undecided",
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


@dataclass
class LoadedGroup:
    label: str
    configs: list[Config]


@dataclass
class Report:
    command: str
    stage: str
    root: str
    dry_run: bool
    steps: list[StepReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(s.status == FAILED for s in self.steps)


def load_groups(groups: list[SourceGroup]) -> tuple[list[LoadedGroup], list[Problem]]:
    """Parse every document; a document with an error is dropped whole."""
    loaded: list[LoadedGroup] = []
    problems: list[Problem] = []
    for group in groups:
        problems += group.problems
        configs = []
        for doc in group.documents:
            result = load_text(doc.text, doc.source or doc.name, group=group.label, path=doc.name)
            problems += result.problems
            if result.ok and result.config is not None:
                configs.append(result.config)
            else:
                log.error("%s: invalid, none of its steps will run", doc.name)
        loaded.append(LoadedGroup(group.label, configs))
    return loaded, problems


def run_stages(
    ctx: RunContext, report: Report, stages: list[str], groups: list[LoadedGroup]
) -> None:
    """Run each stage over each group in order, appending to `report`."""
    for stage in stages:
        for group in groups:
            for planned in order_stage(group.configs, stage):
                step_report = run_step(ctx, planned)
                report.steps.append(step_report)
                _log_step(step_report)
                if ctx.fail_fast and step_report.status == FAILED:
                    return


def run_step(ctx: RunContext, planned: PlannedStep) -> StepReport:
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
    except RootError as exc:
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
        except (StepError, RootError) as exc:
            failures.append(f"{module}: {exc}")
            continue
        for action in actions:
            done.append(action)
            try:
                apply_action(ctx, action)
            except StepError as exc:
                failures.append(f"{module}: {exc}")
    return failures


def _log_step(step: StepReport) -> None:
    why = f": {step.reason}" if step.reason else ""
    level = logging.WARNING if step.status == FAILED else logging.INFO
    log.log(level, "%s %s%s", step.full_name, step.status, why)
