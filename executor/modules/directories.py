"""`directories`: make directories with mode and owner."""

from __future__ import annotations

from executor.actions import Action
from executor.context import RunContext
from executor.model import DirectorySpec
from executor.modules.fsplan import plan_directory, plan_each


def plan_directories(ctx: RunContext, specs: tuple[DirectorySpec, ...]) -> list[Action]:
    def plan_one(spec: DirectorySpec) -> list[Action]:
        return plan_directory(ctx, spec.path, mode=spec.permissions, uid=spec.owner, gid=spec.group)

    return plan_each(specs, plan_one, lambda spec: spec.path)
