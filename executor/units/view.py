"""A planning view: the root as it will be once the actions planned so far are applied.

Planning one `systemctl` step means deciding many links in turn, each
depending on the ones before (a .wants/ directory made for the first link
exists for the second; `disable` after `enable` in the same step sees the new
links). The view is a dry-run overlay on the run's Root (which may itself be
a dry-run): it records each planned action and never writes anything.
"""

from __future__ import annotations

from executor.actions import Action
from executor.context import RunContext
from executor.record import replace
from executor.root import DryRunRoot


class Plan:
    """Actions planned for one step, each already visible in `view`."""

    def __init__(self, ctx: RunContext) -> None:
        self.view = DryRunRoot(over=ctx.root)
        self.ctx = replace(ctx, root=self.view)  # the run's context, on the view
        self.actions: list[Action] = []

    def record(self, action: Action) -> None:
        """Add `action`; raises StepError when it could not be applied to the tree."""
        # Imported here: apply imports the modules package, which imports us.
        from executor.apply import apply_action

        apply_action(self.ctx, action)
        self.actions.append(action)
