"""`commands`: shell commands, run by the applier through the runner."""

from __future__ import annotations

from executor.actions import RUN, Action
from executor.context import RunContext


def plan_commands(ctx: RunContext, commands: tuple[str, ...]) -> list[Action]:
    from executor.modules.templating import render_text  # commands are templated, as in yip

    return [
        Action("command", command=render_text(ctx, cmd, where=f"commands[{i}]"), change=RUN)
        for i, cmd in enumerate(commands)
        if cmd.strip()
    ]
