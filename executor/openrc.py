"""OpenRC services: `enable`/`disable` as `rc-update add|del NAME default` does them.

`rc-update add` resolves the service to its init script (/usr/local/etc/init.d
first, then /etc/init.d), requires it to exist and be executable (`*.sh` are
not services), and links /etc/runlevels/default/NAME to that script's path;
a service already in the runlevel is left alone, and the runlevel directory
must exist. `rc-update del` unlinks /etc/runlevels/default/NAME; where it
would fail because the service is not in the runlevel, this is a no-op (with
a note) so that a step can run on every boot.
"""

from __future__ import annotations

import posixpath

from executor.actions import CREATE, NONE, REMOVE, Action, Note
from executor.errors import StepError
from executor.units.view import Plan

RUNLEVEL = "default"
RUNLEVEL_DIR = "/etc/runlevels"
INIT_DIRS = ("/usr/local/etc/init.d", "/etc/init.d")  # librc's rc_service_resolve order
STATE_FILE = "/run/openrc/softlevel"  # present while OpenRC runs the system


def runlevel_link(name: str) -> str:
    return f"{RUNLEVEL_DIR}/{RUNLEVEL}/{posixpath.basename(name)}"


def plan_add(plan: Plan, services: list[str]) -> list[Note]:
    """Plan `rc-update add SERVICE default` for each service; raises StepError."""
    view = plan.view
    errors = []
    for service in services:
        name = service.strip()
        script = _resolve(plan, name)
        if script is None:
            errors.append(
                f"cannot enable {name}: no init script "
                f"(looked for {', '.join(f'{d}/{name}' for d in INIT_DIRS)})"
            )
            continue
        if not _executable(plan, script):
            errors.append(f"cannot enable {name}: {script} is not executable")
            continue
        link = runlevel_link(name)
        if view.lookup(link) is not None:  # rc_service_in_runlevel follows the link
            node = view.lookup(link, follow=False)
            plan.record(Action("symlink", link, NONE, target=node.target if node else ""))
            continue
        runlevel = view.lookup(f"{RUNLEVEL_DIR}/{RUNLEVEL}")
        if runlevel is None or runlevel.kind != "dir":
            errors.append(
                f"cannot enable {name}: runlevel {RUNLEVEL} does not exist "
                f"({RUNLEVEL_DIR}/{RUNLEVEL} is not a directory)"
            )
            continue
        if view.lookup(link, follow=False) is not None:
            errors.append(f"cannot enable {name}: {link} exists and leads nowhere")
            continue
        plan.record(Action("symlink", link, CREATE, target=script))
    if errors:
        raise StepError("; ".join(errors))
    return []


def plan_del(plan: Plan, services: list[str]) -> list[Note]:
    """Plan `rc-update del SERVICE default` for each service; returns notes."""
    view = plan.view
    notes: list[Note] = []
    for service in services:
        name = service.strip()
        link = runlevel_link(name)
        node = view.lookup(link, follow=False)
        if node is None:
            # already as wanted: kept, not skipped
            notes.append(Note(f"{name} is not in the {RUNLEVEL} runlevel: nothing to disable"))
            continue
        if node.kind == "dir":
            raise StepError(f"cannot disable {name}: {link} is a directory")
        plan.record(Action("remove", link, REMOVE, target=node.target))
    return notes


def openrc_running(plan: Plan) -> bool:
    """OpenRC manages this root right now (it is `/` and OpenRC has a runlevel)."""
    return plan.view.is_host_root and plan.view.lookup(STATE_FILE) is not None


def _resolve(plan: Plan, name: str) -> str | None:
    """The init script path of a service name (the first that exists), as librc finds it."""
    if not name or "/" in name or name.endswith(".sh"):  # *.sh are not services
        return None
    for directory in INIT_DIRS:
        path = f"{directory}/{name}"
        if plan.view.lookup(path) is not None:
            return path
    return None


def _executable(plan: Plan, path: str) -> bool:
    node = plan.view.lookup(path)
    return node is not None and node.kind == "file" and bool(node.mode & 0o111)
