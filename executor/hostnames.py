"""The node's hostname, as `node:` and the `.Values.node.hostname` template see it.

yip reads the running kernel's hostname (sysinfo's /proc/sys/kernel/hostname).
That is the node's own name only when the root is the running system (`/`,
the initramfs chroot included, where the kernel is the node's); for an image
root on a workstation the kernel's name would be the workstation's, so the
root's /etc/hostname is read instead. Callers say which in their messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable

RUNNING_KERNEL = "the running kernel"
ETC_HOSTNAME = "/etc/hostname"


def node_hostname(root_is_host: bool, read_etc: Callable[[], bytes | None]) -> tuple[str, str]:
    """(hostname, where it came from); `read_etc` reads the root's /etc/hostname."""
    if root_is_host:
        return os.uname().nodename, RUNNING_KERNEL
    return parse_etc_hostname(read_etc()), ETC_HOSTNAME


def parse_etc_hostname(data: bytes | None) -> str:
    """The name in an /etc/hostname: its first line that is neither blank nor a
    comment, stripped (systemd's reading of the file); "" when there is none."""
    for line in (data or b"").decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    return ""
