"""`directories`: make directories with mode and owner."""

from __future__ import annotations

from executor.actions import Action
from executor.context import RunContext
from executor.model import DirectorySpec
from executor.modules.fsplan import plan_directory


def plan_directories(ctx: RunContext, specs: tuple[DirectorySpec, ...]) -> list[Action]:
    actions: list[Action] = []
    for spec in specs:
        actions += plan_directory(
            ctx, spec.path, mode=spec.permissions, uid=spec.owner, gid=spec.group
        )
    return actions
