"""`commands`: shell commands, run by the applier through the runner."""

from __future__ import annotations

from executor.actions import RUN, Action
from executor.context import RunContext


def plan_commands(ctx: RunContext, commands: tuple[str, ...]) -> list[Action]:
    return [Action("command", command=cmd, change=RUN) for cmd in commands if cmd.strip()]
