"""The modules of a step, in yip's order.

Each entry maps a step to the Actions of one module. The engine plans and
applies them one module at a time, so a command sees the files written before
it and a dry-run sees the same through its overlay.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from executor.actions import Action
from executor.context import RunContext
from executor.model import Step

Planner = Callable[[RunContext, Step], list[Action]]

# yip's module order (pkg/executor default plugins). Modules this executor
# does not implement are named so a step using them fails loudly.
MODULE_ORDER = (
    "dns", "downloads", "git", "ensure_entities", "directories", "files", "commands",
    "delete_entities", "hostname", "sysctl", "users", "authorized_keys", "modules",
    "timesyncd", "systemctl", "environment", "systemd_firstboot", "datasource", "layout",
    "package_pins", "packages", "unpack_images",
)

# config key -> (module in executor.modules, its planner, the Step fields it takes)
_PLANNER_TABLE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "dns": ("dns", "plan_dns", ("dns",)),
    "downloads": ("downloads", "plan_downloads", ("downloads",)),
    "ensure_entities": ("entities", "plan_ensure_entities", ("ensure_entities",)),
    "directories": ("directories", "plan_directories", ("directories",)),
    "files": ("files", "plan_files", ("files",)),
    "commands": ("commands", "plan_commands", ("commands",)),
    "delete_entities": ("entities", "plan_delete_entities", ("delete_entities",)),
    "hostname": ("hostname", "plan_hostname", ("hostname",)),
    "sysctl": ("sysctl", "plan_sysctl", ("sysctl",)),
    "users": ("users", "plan_users", ("users",)),
    "authorized_keys": ("authorized_keys", "plan_authorized_keys", ("authorized_keys",)),
    "modules": ("kmodules", "plan_kernel_modules", ("kernel_modules",)),
    "timesyncd": ("timesyncd", "plan_timesyncd", ("timesyncd",)),
    "systemctl": ("systemctl", "plan_systemctl", ("systemctl",)),
    "environment": ("environment", "plan_environment", ("environment", "environment_file")),
    "systemd_firstboot": ("firstboot", "plan_firstboot", ("systemd_firstboot",)),
    "datasource": ("datasource", "plan_datasource", ("modules",)),
    "layout": ("layout", "plan_layout", ("modules",)),
}


def _lazy_planner(module: str, function: str, fields: tuple[str, ...]) -> Planner:
    """A planner that imports its module on first use: a boot pays only for its own."""

    def plan(ctx: RunContext, step: Step) -> list[Action]:
        planner = getattr(import_module(f"executor.modules.{module}"), function)
        actions: list[Action] = planner(ctx, *(getattr(step, f) for f in fields))
        return actions

    return plan


PLANNERS: dict[str, Planner] = {
    key: _lazy_planner(*entry) for key, entry in _PLANNER_TABLE.items()
}


def used_modules(step: Step) -> list[str]:
    """The modules a step uses, in execution order."""
    used = set(step.modules)
    typed = {
        "directories": step.directories, "files": step.files, "commands": step.commands,
        "dns": step.dns, "downloads": step.downloads, "ensure_entities": step.ensure_entities,
        "delete_entities": step.delete_entities, "hostname": step.hostname,
        "sysctl": step.sysctl, "users": step.users, "authorized_keys": step.authorized_keys,
        "modules": step.kernel_modules, "timesyncd": step.timesyncd,
        "environment": step.environment, "systemd_firstboot": step.systemd_firstboot,
    }
    used.update(name for name, value in typed.items() if value)
    if not step.systemctl.is_empty():
        used.add("systemctl")
    used.discard("environment_file")  # an option of `environment`, not a module
    return [m for m in MODULE_ORDER if m in used]
