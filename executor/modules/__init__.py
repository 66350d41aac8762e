"""The modules of a step, in yip's order.

Each entry maps a step to the Actions of one module. The engine plans and
applies them one module at a time, so a command sees the files written before
it and a dry-run sees the same through its overlay.
"""

from __future__ import annotations

from collections.abc import Callable

from executor.actions import Action
from executor.context import RunContext
from executor.model import Step
from executor.schema import STEP_MODULES

Planner = Callable[[RunContext, Step], list[Action]]

# yip's module order (pkg/executor default plugins), from the step's table.
# Modules this executor does not implement are named so a step using them
# fails loudly.
MODULE_ORDER = tuple(m.key for m in sorted(STEP_MODULES, key=lambda m: m.run) if m.run)


def _lazy_planner(planner: str, fields: tuple[str, ...]) -> Planner:
    """A planner that imports its module on first use: a boot pays only for its own."""
    module, function = planner.split(".")

    def plan(ctx: RunContext, step: Step) -> list[Action]:
        # __import__ with a fromlist returns the submodule itself; importlib's
        # import_module would cost a boot the importlib package and warnings
        planner = getattr(__import__(f"executor.modules.{module}", fromlist=[function]), function)
        actions: list[Action] = planner(ctx, *(getattr(step, f) for f in fields))
        return actions

    return plan


PLANNERS: dict[str, Planner] = {
    m.key: _lazy_planner(m.planner, m.planner_args) for m in STEP_MODULES if m.planner
}

# The module keys filling a Step attribute: a step built in code (not loaded)
# uses the module when that attribute is set (empty specs are false).
_ATTRS = tuple((m.key, m.attr) for m in STEP_MODULES if m.run and m.attr)
_RUN = frozenset(MODULE_ORDER)


def used_modules(step: Step) -> list[str]:
    """The modules a step uses, in execution order."""
    used = set(_RUN.intersection(step.modules))
    used.update(key for key, attr in _ATTRS if getattr(step, attr))
    return [m for m in MODULE_ORDER if m in used]
