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
    "package_pins", "packages", "unpack_images",
)


def _dns(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.dns import plan_dns

    return plan_dns(ctx, step.dns)


def _downloads(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.downloads import plan_downloads

    return plan_downloads(ctx, step.downloads)


def _ensure_entities(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.entities import plan_ensure_entities

    return plan_ensure_entities(ctx, step.ensure_entities)


def _delete_entities(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.entities import plan_delete_entities

    return plan_delete_entities(ctx, step.delete_entities)


def _hostname(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.hostname import plan_hostname

    return plan_hostname(ctx, step.hostname)


def _sysctl(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.sysctl import plan_sysctl

    return plan_sysctl(ctx, step.sysctl)


def _users(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.users import plan_users

    return plan_users(ctx, step.users)


def _authorized_keys(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.authorized_keys import plan_authorized_keys

    return plan_authorized_keys(ctx, step.authorized_keys)


def _kernel_modules(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.kmodules import plan_kernel_modules

    return plan_kernel_modules(ctx, step.kernel_modules)


def _timesyncd(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.timesyncd import plan_timesyncd

    return plan_timesyncd(ctx, step.timesyncd)


def _environment(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.environment import plan_environment

    return plan_environment(ctx, step.environment, step.environment_file)


def _firstboot(ctx: RunContext, step: Step) -> list[Action]:
    from executor.modules.firstboot import plan_firstboot

    return plan_firstboot(ctx, step.systemd_firstboot)


# Modules are imported when a step uses them: a boot pays only for its own.
PLANNERS: dict[str, Planner] = {
    "dns": _dns,
    "downloads": _downloads,
    "ensure_entities": _ensure_entities,
    "directories": lambda ctx, step: plan_directories(ctx, step.directories),
    "files": lambda ctx, step: plan_files(ctx, step.files),
    "commands": lambda ctx, step: plan_commands(ctx, step.commands),
    "delete_entities": _delete_entities,
    "hostname": _hostname,
    "sysctl": _sysctl,
    "users": _users,
    "authorized_keys": _authorized_keys,
    "modules": _kernel_modules,
    "timesyncd": _timesyncd,
    "systemctl": lambda ctx, step: plan_systemctl(ctx, step.systemctl),
    "environment": _environment,
    "systemd_firstboot": _firstboot,
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
