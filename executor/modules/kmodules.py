"""`modules`: kernel modules loaded with modprobe, on the running system only.

An entry is `name [param=value ...]`; a module already in /proc/modules is
left alone. In any root other than `/` the kernel is not ours: each entry is
reported as skipped, nothing runs. On `/` the loading goes through the
runner (`modprobe`), one call per module.
"""

from __future__ import annotations

import shlex

from executor.actions import NONE, RUN, Action
from executor.context import RunContext
from executor.errors import StepError

SKIPPED = "skipped: modules load into the running kernel, which a root that is not / is not"


def loaded_modules(ctx: RunContext) -> set[str]:
    text = ctx.root.read_text_or_empty("/proc/modules")
    return {line.split(" ", 1)[0] for line in text.splitlines() if line.strip()}


def plan_kernel_modules(ctx: RunContext, entries: tuple[str, ...]) -> list[Action]:
    actions: list[Action] = []
    live = ctx.root.is_host_root
    loaded = loaded_modules(ctx) if live else set()
    for entry in entries:
        words = entry.split()
        if not words:
            continue
        name = words[0]
        if not all(c.isalnum() or c in "_-" for c in name):
            raise StepError(f"{name!r} is not a module name")
        command = shlex.join(["modprobe", *words])
        if not live:
            actions.append(
                Action("module", "", NONE, command=command, detail=SKIPPED, skipped=True)
            )
        elif name.replace("-", "_") in loaded:
            actions.append(Action("module", "", NONE, command=command, detail="already loaded"))
        else:
            actions.append(Action("module", "", RUN, command=command))
    return actions
