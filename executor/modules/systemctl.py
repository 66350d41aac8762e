"""`systemctl`: enable, disable, mask, unmask, start and drop-in overrides.

On the running system (see RunContext.live_system) the real systemctl is
called, one call per verb with all its units. Everywhere else (an image root,
the initramfs chroot) the links are planned natively, as `systemctl --root`
would make them; `start` needs a running manager and is skipped with why.
"""

from __future__ import annotations

import posixpath

from executor import units
from executor.actions import NONE, RUN, Action
from executor.context import RunContext
from executor.model import OverrideSpec, SystemctlSpec
from executor.modules.fsplan import plan_file

VERBS = ("enable", "disable", "mask", "unmask")
DEFAULT_OVERRIDE = "override-yip.conf"


def override_path(spec: OverrideSpec) -> str:
    """/etc/systemd/system/UNIT.d/NAME.conf with yip's suffix rules."""
    name = spec.name or DEFAULT_OVERRIDE
    if posixpath.splitext(name)[1] != ".conf":
        name += ".conf"
    service = spec.service
    if posixpath.splitext(service)[1] != ".service":
        service += ".service"
    return f"{units.CONFIG_DIR}/{service}.d/{name}"


def plan_systemctl(ctx: RunContext, spec: SystemctlSpec) -> list[Action]:
    actions: list[Action] = []
    for override in spec.overrides:
        actions += plan_file(
            ctx, override_path(override), override.content.encode(), mode=0o644, uid=0, gid=0
        )
    if ctx.live_system:
        return actions + _plan_live(spec)
    planners = {
        "enable": units.plan_enable,
        "disable": units.plan_disable,
        "mask": units.plan_mask,
        "unmask": units.plan_unmask,
    }
    for verb in VERBS:
        for name in getattr(spec, verb):
            actions += planners[verb](ctx.root, name)
    for name in spec.start:
        actions.append(
            Action("unit", units.unit_name(name), NONE, command=f"systemctl start {name}",
                   detail="skipped: start needs a running service manager")
        )
    return actions


def _plan_live(spec: SystemctlSpec) -> list[Action]:
    actions = []
    for verb in (*VERBS, "start"):
        names = [units.unit_name(n) for n in getattr(spec, verb)]
        if names:
            argv = ["systemctl", verb, *names]
            actions.append(Action("unit", " ".join(names), RUN, command=" ".join(argv)))
    return actions
