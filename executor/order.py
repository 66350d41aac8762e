"""Execution order of one stage over the documents of one source group.

Steps run in file order, files in lexical order of their path. Every step has
a full name `CONFIG.STEP` (yip's DAG node name): CONFIG is the document's
`name`, else its path; STEP is the step's `name`, else its index, and
`NAME.INDEX` when names repeat inside one document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from executor.model import Config, Step


@dataclass(frozen=True)
class PlannedStep:
    config: Config
    step: Step
    full_name: str


def step_names(config: Config, steps: tuple[Step, ...]) -> list[str]:
    """Full names of a document's steps of one stage."""
    counts = Counter(s.name for s in steps)
    repeated = any(n > 1 for n in counts.values())
    names = []
    for i, step in enumerate(steps):
        local = f"{step.name}.{i}" if repeated else (step.name or str(i))
        names.append(f"{config.display_name}.{local}")
    return names


def order_stage(configs: list[Config], stage: str) -> list[PlannedStep]:
    """Steps of `stage` in execution order."""
    ordered: list[PlannedStep] = []
    for config in configs:
        steps = config.stages.get(stage, ())
        for step, name in zip(steps, step_names(config, steps), strict=True):
            ordered.append(PlannedStep(config, step, name))
    return ordered
