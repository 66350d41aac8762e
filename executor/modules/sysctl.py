"""`sysctl`: kernel parameters, written to /proc/sys on the running system.

A key `net.core.rmem_max` is the file /proc/sys/net/core/rmem_max (yip turns
every `.` into `/`). Only when the root is `/` is /proc/sys the kernel that
will use the value (in the initramfs the executor runs chrooted in the new
root, which is `/` to it, with /proc bound). In any other root /proc is not
the kernel: the keys are planned and reported as skipped, never written.
"""

from __future__ import annotations

from collections.abc import Mapping

from executor.actions import NONE, UPDATE, Action
from executor.context import RunContext
from executor.errors import StepError

PROC_SYS = "/proc/sys"
SKIPPED = "skipped: /proc in a root that is not / is not the running kernel"


def sysctl_path(key: str) -> str:
    parts = key.strip().replace(".", "/").split("/")
    if not key.strip() or any(p in ("", "..") for p in parts):
        raise StepError(f"{key!r} is not a kernel parameter name")
    return f"{PROC_SYS}/{'/'.join(parts)}"


def plan_sysctl(ctx: RunContext, settings: Mapping[str, str]) -> list[Action]:
    actions: list[Action] = []
    for key, value in settings.items():
        path = sysctl_path(key)
        command = f"sysctl {key}={value}"
        if not ctx.root.is_host_root:
            actions.append(
                Action("sysctl", path, NONE, command=command, detail=SKIPPED, skipped=True)
            )
            continue
        node = ctx.root.lookup(path)
        if node is None or node.kind != "file":
            raise StepError(f"the kernel has no parameter {key} ({path})")
        current = ctx.root.read_text_or_empty(path)
        same = current.split() == value.split()
        actions.append(
            Action(
                "sysctl",
                path,
                NONE if same else UPDATE,
                command=command,
                data=None if same else value.encode(),
            )
        )
    return actions
