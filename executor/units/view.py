"""A planning view: the root as it will be once the actions planned so far are applied.

Planning one `systemctl` step means deciding many links in turn, each
depending on the ones before (a .wants/ directory made for the first link
exists for the second; `disable` after `enable` in the same step sees the new
links). The view records each planned action the way a dry-run does, over
the run's Root (which may itself be a dry-run), and never writes anything.
"""

from __future__ import annotations

from executor import record as dataclasses
from executor.actions import Action
from executor.context import RunContext
from executor.root import DryRunRoot, Node, Root


class _ReadsBase(Root):
    """Reads through another Root instead of the disk.

    It sits between DryRunRoot and Root in PlanView's method order, so the
    dry-run overlay logic falls through to the base root's view of the tree.
    """

    base: Root

    def _lstat(self, rel: str) -> Node | None:
        return self.base._lstat(rel)

    def _read_rel(self, rel: str, limit: int) -> bytes:
        return self.base._read_rel(rel, limit)

    def _listdir_rel(self, rel: str) -> list[str]:
        return self.base._listdir_rel(rel)


class PlanView(DryRunRoot, _ReadsBase):
    """A dry-run overlay on top of `base`."""

    def __init__(self, base: Root) -> None:
        super().__init__(base.path)
        self.base = base


class Plan:
    """Actions planned for one step, each already visible in `view`."""

    def __init__(self, ctx: RunContext) -> None:
        self.view = PlanView(ctx.root)
        self.ctx = dataclasses.replace(ctx, root=self.view)  # the run's context, on the view
        self.actions: list[Action] = []

    def record(self, action: Action) -> None:
        """Add `action`; raises StepError when it could not be applied to the tree."""
        # Imported here: apply imports the modules package, which imports us.
        from executor.apply import apply_action

        apply_action(self.ctx, action)
        self.actions.append(action)
