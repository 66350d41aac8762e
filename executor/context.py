"""The run context: everything a run carries that is not config.

Config is frozen data (model.py); the Root, the runner and the what-if
inputs of a dry-run travel here, so that no module needs a dry-run flag: it
asks the Root, and a dry-run Root records instead of writing.
"""

from __future__ import annotations

import os

from executor.record import dataclass, field
from executor.root import Root
from executor.runner import DEFAULT_TIMEOUT, Runner


@dataclass
class RunContext:
    root: Root
    runner: Runner = field(default_factory=Runner)
    markers: tuple[str, ...] = ()  # dry-run what-if: /run/cos/NAME exists
    cmdline: str | None = None  # dry-run what-if: replaces /proc/cmdline
    timeout: float = DEFAULT_TIMEOUT
    fail_fast: bool = False
    verbose: bool = False
    _live: bool | None = field(default=None, repr=False)

    @property
    def dry_run(self) -> bool:
        return self.root.dry_run

    @property
    def live_system(self) -> bool:
        """True when the root is the running system under a running systemd.

        That is: the root is `/`, PID 1 is systemd, and we are not chrooted
        (the initramfs chroot has PID 1 = the initrd's systemd, but its `/` is
        not PID 1's `/`, so units there must be linked natively).
        """
        if self._live is None:
            self._live = self.root.is_host_root and _systemd_is_pid1() and not _chrooted()
        return self._live

    def can_chroot(self) -> bool:
        return self.root.is_host_root or os.geteuid() == 0


def _systemd_is_pid1() -> bool:
    # systemd creates this directory at start-up; sd_booted() checks the same.
    return os.path.isdir("/run/systemd/system")


def _chrooted() -> bool:
    try:
        ours = os.stat("/")
        pid1 = os.stat("/proc/1/root")
    except OSError:
        return True  # cannot see PID 1's root: do not assume we share it
    return (ours.st_dev, ours.st_ino) != (pid1.st_dev, pid1.st_ino)
