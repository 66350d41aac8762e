"""A device mounted in a temporary directory for one use: mount, use, unmount,
remove the directory. Shared by `layout` (an xfs or btrfs grown offline) and
the datasource's CD-ROMs (a vfat config drive).

Every failure is a StepError, never a traceback: no mount tools, a mount
point that cannot be made, a mount that fails. Cleaning up never hides the
error that came before it: a failed umount (a busy mount) or rmdir is
logged, and the directory is left for the administrator.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import TypeVar

from executor.errors import StepError
from executor.log import log
from executor.runner import Runner

T = TypeVar("T")


def in_temporary_mount(
    runner: Runner,
    device: str,
    use: Callable[[str], T],
    *,
    prefix: str,
    timeout: float,
    options: tuple[str, ...] = (),
    why: str = "",
    umount_timeout: float | None = None,
) -> T:
    """`use(where)` with `device` mounted (`mount OPTIONS`) on a new directory
    `where`; `timeout` bounds the mount (and `umount_timeout`, default the
    same, the umount). `why` finishes the "cannot mount" message."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        raise StepError("needs mount and umount (util-linux), not found on PATH")
    try:
        where = tempfile.mkdtemp(prefix=prefix)
    except OSError as exc:
        raise StepError(
            f"cannot make a directory to mount {device} on: {exc.strerror or exc}"
        ) from None
    try:
        done = runner.run([mount, *options, device, where], timeout=timeout)
        if not done.ok:
            raise StepError(
                f"cannot mount {device}{' ' + why if why else ''}:"
                f" {done.describe()}: {done.output.strip()[-400:]}"
            )
        try:
            return use(where)
        except OSError as exc:
            raise StepError(f"{device} mounted on {where}: {exc.strerror or exc}") from None
        finally:
            undone = runner.run([umount, where], timeout=umount_timeout or timeout)
            if not undone.ok:
                log.warning(
                    "cannot unmount %s from %s (%s): %s",
                    device,
                    where,
                    undone.describe(),
                    undone.output.strip()[-400:],
                )
    finally:
        try:
            os.rmdir(where)
        except OSError as exc:
            log.warning("cannot remove the mount point %s: %s", where, exc.strerror or exc)
