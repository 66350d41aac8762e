"""`systemctl`: overrides, enable, disable, mask, unmask and start.

Each unit of a list is its own action, as yip's one `systemctl VERB UNIT`
per unit: a unit that does not exist (or fails) is an error of the step and
the other units are still enabled, disabled or masked.

Where the root is the running system under systemd (RunContext.live_system)
the real systemctl is called, once per unit. Everywhere else (an image root,
the initramfs chroot) the links are planned natively, link for link as
`systemctl --root` makes them; `start` needs a running manager and is
reported as skipped with the reason. When the root's service manager is
OpenRC (only `openrc` found in its bin dirs), enable and disable are
`rc-update add|del NAME default`.

Drop-in overrides are written first, so a unit enabled or started by the
same step already has them (yip writes them last).
"""

from __future__ import annotations

from collections.abc import Callable

from executor import units
from executor.actions import NONE, RUN, Action, Note
from executor.conditions import cond_fs
from executor.conditions.filters import service_managers
from executor.context import RunContext
from executor.errors import EntryErrors, StepError
from executor.model import OverrideSpec, SystemctlSpec
from executor.modules.fsplan import plan_file
from executor.units.names import UnitNameError

UnitPlanner = Callable[[units.Plan, list[str]], list[Note]]

VERBS = ("enable", "disable", "mask", "unmask")
DEFAULT_OVERRIDE = "override-yip.conf"
NOT_LIVE = (
    "skipped: start needs the running service manager, and this root is not the running system"
)


def override_path(spec: OverrideSpec) -> str:
    """/etc/systemd/system/UNIT.d/NAME.conf with yip's suffix rules.

    yip appends `.conf` to a name whose extension is not `.conf` and
    `.service` to a unit whose extension is not `.service` (Go's
    filepath.Ext: from the last dot of the last path element).
    """
    name = spec.name or DEFAULT_OVERRIDE
    service = spec.service.strip()
    for value, what in ((service, "service"), (name, "name")):
        if "/" in value or value in (".", ".."):
            raise StepError(f"overrides: {what} {value!r} must be a plain file name")
    if _go_ext(name) != ".conf":
        name += ".conf"
    if _go_ext(service) != ".service":
        service += ".service"
    return f"{units.CONFIG_DIR}/{service}.d/{name}"


def _go_ext(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def plan_systemctl(ctx: RunContext, spec: SystemctlSpec) -> list[Action]:
    plan = units.Plan(ctx)
    for override in spec.overrides:
        _plan_override(plan, override)
    if openrc_root(ctx):
        return _plan_openrc(plan, spec)
    if ctx.live_system:
        return plan.actions + _plan_live(spec)
    planners = {
        "enable": units.plan_enable,
        "disable": units.plan_disable,
        "mask": units.plan_mask,
        "unmask": units.plan_unmask,
    }
    notes: list[Note] = []
    errors: list[str] = []
    for verb in VERBS:
        notes += _per_unit(plan, planners[verb], list(getattr(spec, verb)), errors)
    actions = plan.actions + [note.action("unit") for note in notes]
    for name in spec.start:
        actions.append(
            Action(
                "unit",
                _shown_name(name),
                NONE,
                command=_command_line(["systemctl", "start", name]),
                detail=NOT_LIVE,
                skipped=True,
            )
        )
    if errors:
        raise EntryErrors(errors, actions)
    return actions


def _per_unit(
    plan: units.Plan, planner: UnitPlanner, names: list[str], errors: list[str]
) -> list[Note]:
    """Plan a verb for each unit on its own; returns notes, appends failures to `errors`.

    Each unit is planned on a view of the plan so far and its actions are
    kept only when it succeeds, so a unit that fails leaves nothing behind
    and the next units still see the links of the ones before.
    """
    notes: list[Note] = []
    for name in names:
        trial = units.Plan(plan.ctx)
        try:
            notes += planner(trial, [name])
        except StepError as exc:
            errors.append(str(exc))
            continue
        for action in trial.actions:
            plan.record(action)
    return notes


def openrc_root(ctx: RunContext) -> bool:
    """The root's service manager is OpenRC: `openrc` is there and `systemctl` is not."""
    return service_managers(cond_fs(ctx)) == ["openrc"]


def _plan_override(plan: units.Plan, spec: OverrideSpec) -> None:
    if not spec.service.strip():
        plan.actions.append(
            Action(
                "file", "", NONE, detail="override skipped: empty service (as yip)", skipped=True
            )
        )
        return
    path = override_path(spec)
    if not spec.content:
        plan.actions.append(
            Action(
                "file", path, NONE, detail="override skipped: empty content (as yip)", skipped=True
            )
        )
        return
    # Planned on the view, so that enabling in the same step reads a
    # drop-in's [Install] lines as they will be. Owned by whoever runs us
    # (root on a node), as yip's plain write does: no chown needed.
    data = spec.content.encode()
    for action in plan_file(plan.ctx, path, data, mode=0o644, uid=None, gid=None):
        plan.record(action)


def _plan_live(spec: SystemctlSpec) -> list[Action]:
    """One `systemctl VERB UNIT` per unit: each one fails (or not) on its own."""
    actions = []
    for verb in (*VERBS, "start"):
        for name in (name.strip() for name in getattr(spec, verb)):
            if name:
                argv = ["systemctl", verb, *_start_flags(verb), name]
                actions.append(Action("unit", name, RUN, command=_command_line(argv)))
    return actions


def _start_flags(verb: str) -> list[str]:
    """`--no-block` for a start from inside a unit (systemd sets INVOCATION_ID).

    Our own unit's start job is still running then, so a unit ordered after it
    (or after a target that waits for it, like multi-user.target for the boot
    stage) would wait for us while we wait for it: a deadlock until the start
    timeout. The start is queued instead; its outcome is the unit's, in the
    journal, not this step's.
    """
    import os

    return ["--no-block"] if verb == "start" and os.environ.get("INVOCATION_ID") else []


def _plan_openrc(plan: units.Plan, spec: SystemctlSpec) -> list[Action]:
    from executor import openrc  # only an OpenRC root needs it; a systemd boot does not import it

    for verb in ("mask", "unmask"):
        if getattr(spec, verb):
            raise StepError(
                f"{verb} has no OpenRC equivalent (the root's service manager is OpenRC)"
            )
    errors: list[str] = []
    notes = _per_unit(plan, openrc.plan_add, list(spec.enable), errors)
    notes += _per_unit(plan, openrc.plan_del, list(spec.disable), errors)
    actions = plan.actions + [note.action("unit") for note in notes]
    live = openrc.openrc_running(plan)
    for name in spec.start:
        argv = ["rc-service", name.strip(), "start"]
        if live:
            actions.append(Action("unit", name.strip(), RUN, command=_command_line(argv)))
        else:
            actions.append(
                Action(
                    "unit",
                    name.strip(),
                    NONE,
                    command=_command_line(argv),
                    detail=NOT_LIVE,
                    skipped=True,
                )
            )
    if errors:
        raise EntryErrors(errors, actions)
    return actions


def _shown_name(name: str) -> str:
    try:
        return units.mangle(name)
    except UnitNameError:
        return name


def _command_line(argv: list[str]) -> str:
    """The argv as a line an operator can paste (shlex only when there is one)."""
    import shlex

    return shlex.join(argv)
