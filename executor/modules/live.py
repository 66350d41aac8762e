"""Effects on the running kernel, not on files of the root.

Applied only for actions planned when the root is `/` (the planners report
them as skipped anywhere else): writing a kernel parameter under /proc/sys
and setting the kernel's hostname. /proc/sys files cannot be replaced
atomically like the root's files; they are written in place, once.
"""

from __future__ import annotations

import os
import socket

from executor.actions import Action
from executor.context import RunContext
from executor.errors import StepError


def apply_live(ctx: RunContext, action: Action) -> None:
    if ctx.dry_run:
        return
    if not ctx.root.is_host_root:
        raise StepError(
            f"refusing to change the running kernel ({action.kind}) for a root that is not /"
        )
    if action.kind == "sysctl":
        write_kernel_parameter(ctx.root.host_path(action.path), action.data or b"")
    elif action.kind == "sethostname":
        set_kernel_hostname((action.data or b"").decode())
    elif action.kind == "layout":
        from executor.modules.layout import apply_layout  # only a layout step needs it

        apply_layout(ctx, action)


def write_kernel_parameter(path: str, value: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise StepError(f"{path}: {exc.strerror}") from None
    try:
        os.write(fd, value)
    except OSError as exc:
        raise StepError(
            f"{path}: cannot set {value.decode(errors='replace')!r}: {exc.strerror}"
        ) from None
    finally:
        os.close(fd)


def set_kernel_hostname(name: str) -> None:
    try:
        socket.sethostname(name)
    except OSError as exc:
        raise StepError(f"cannot set the hostname to {name!r}: {exc.strerror}") from None
