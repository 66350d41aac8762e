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
from executor.modules.commands import plan_commands
from executor.modules.directories import plan_directories
from executor.modules.files import plan_files
from executor.modules.systemctl import plan_systemctl

Planner = Callable[[RunContext, Step], list[Action]]

# yip's module order (pkg/executor default plugins). Modules this executor
# does not implement are named so a step using them fails loudly.
MODULE_ORDER = (
    "dns", "downloads", "git", "ensure_entities", "directories", "files", "commands",
    "delete_entities", "hostname", "sysctl", "users", "authorized_keys", "modules",
    "timesyncd", "systemctl", "environment", "systemd_firstboot", "datasource", "layout",
    "packages", "unpack_images",
)

PLANNERS: dict[str, Planner] = {
    "directories": lambda ctx, step: plan_directories(ctx, step.directories),
    "files": lambda ctx, step: plan_files(ctx, step.files),
    "commands": lambda ctx, step: plan_commands(ctx, step.commands),
    "systemctl": lambda ctx, step: plan_systemctl(ctx, step.systemctl),
}


def used_modules(step: Step) -> list[str]:
    """The modules a step uses, in execution order."""
    used = set(step.modules)
    if step.directories:
        used.add("directories")
    if step.files:
        used.add("files")
    if step.commands:
        used.add("commands")
    if not step.systemctl.is_empty():
        used.add("systemctl")
    used.discard("environment_file")  # an option of `environment`, not a module
    return [m for m in MODULE_ORDER if m in used]
