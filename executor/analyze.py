"""`analyze STAGE`: the order `run-stage STAGE` would use, shown, not run.

For each substage and each source: the layers of its DAG (order.py), each
step with its full name, the file (and line) it comes from, and its `after`.
No condition is evaluated and nothing is read but the sources.
"""

from __future__ import annotations

import sys

from executor.errors import Problem, ProblemList
from executor.order import PlannedStep, RunPlan, StagePlan
from executor.record import dataclass, field

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import TextIO

FORMAT = 1


@dataclass
class Analysis(ProblemList):
    stage: str
    root: str
    plan: RunPlan
    problems: list[Problem] = field(default_factory=list)

    def substages(self) -> list[str]:
        return list(dict.fromkeys(p.stage for p in self.plan.stages))


def _where(planned: PlannedStep) -> str:
    pos = planned.step.pos
    source = planned.config.source
    return f"{source}:{pos.line}:{pos.column}" if pos and pos.line else source


# -- JSON ----------------------------------------------------------------------------


def as_json(analysis: Analysis) -> dict[str, object]:
    stages = []
    for stage in analysis.substages():
        plans = [p for p in analysis.plan.stages if p.stage == stage and p.steps]
        stages.append({"stage": stage, "sources": [_plan_json(p) for p in plans]})
    return {
        "format": FORMAT,
        "command": "analyze",
        "stage": analysis.stage,
        "root": analysis.root,
        "stages": stages,
        "errors": [p.as_json() for p in analysis.errors],
        "warnings": [p.as_json() for p in analysis.warnings],
    }


def _plan_json(plan: StagePlan) -> dict[str, object]:
    return {
        "source": plan.group,
        "layers": [[_step_json(s) for s in layer] for layer in plan.layers],
    }


def _step_json(planned: PlannedStep) -> dict[str, object]:
    pos = planned.step.pos
    return {
        "name": planned.full_name,
        "step": planned.step.name or str(planned.step.index),
        "source": planned.config.source,
        "line": pos.line if pos else 0,
        "column": pos.column if pos else 0,
        "after": list(planned.step.after),
        "depends_on": list(planned.deps),
        "if": planned.step.if_,
    }


def dumps_analysis(analysis: Analysis) -> str:
    import json

    return json.dumps(as_json(analysis), indent=2, ensure_ascii=False) + "\n"


# -- human text ---------------------------------------------------------------------


def write_analysis(
    analysis: Analysis, stream: TextIO = sys.stdout, *, verbose: bool = False
) -> None:
    """Numbered layers; steps sharing a number could run in any order in yip."""
    for problem in analysis.problems:
        stream.write(problem.format() + "\n")
    total = layers = 0
    for stage in analysis.substages():
        stream.write(f"{stage}:\n")
        plans = [p for p in analysis.plan.stages if p.stage == stage and p.steps]
        if not plans:
            stream.write("  (no steps)\n")
        for plan in plans:
            stream.write(f"  source {plan.group}:\n")
            width = max(len(s.full_name) for s in plan.steps)
            for number, layer in enumerate(plan.layers, 1):
                for k, planned in enumerate(layer):
                    label = f"{number:>4}." if k == 0 else "     "
                    line = f"  {label} {planned.full_name:<{width}}  {_where(planned)}"
                    if planned.step.after:
                        line += "  after " + ", ".join(planned.step.after)
                    stream.write(line.rstrip() + "\n")
                    if verbose and planned.step.if_:
                        stream.write(f"          if: {' '.join(planned.step.if_.split())}\n")
                    if verbose and planned.deps:
                        stream.write(f"          waits for: {', '.join(planned.deps)}\n")
            total += len(plan.steps)
            layers += len(plan.layers)
    errors = len(analysis.errors)
    stream.write(
        f"analyze {analysis.stage}: {total} steps in {layers} layers"
        f"{f', {errors} errors' if errors else ''}"
        " (conditions not evaluated)\n"
    )
