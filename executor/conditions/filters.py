"""The step filters besides `if`, each read inside the root.

Each check returns "" when the step may run, or the reason it is skipped,
naming the filter and what it saw.
"""

from __future__ import annotations

import os
import platform
import re
from typing import TYPE_CHECKING

from executor.model import Step

if TYPE_CHECKING:
    from executor.conditions.native import CondFS
    from executor.context import RunContext

BIN_DIRS = ("/sbin", "/bin", "/usr/sbin", "/usr/bin")

# uname -m spelling -> Go's GOARCH spelling (yip compares against GOARCH)
GO_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def check_filters(ctx: RunContext, step: Step, fs: CondFS) -> str:
    for check in (_if_files, _service_manager, _os, _os_version, _arch, _node):
        reason = check(ctx, step, fs)
        if reason:
            return reason
    return ""


def _if_files(ctx: RunContext, step: Step, fs: CondFS) -> str:
    spec = step.if_files
    if spec is None:
        return ""

    def exists(path: str) -> bool:
        return fs.lookup(path) is not None

    if spec.any and not any(exists(p) for p in spec.any):
        return f"if_files.any: none of {', '.join(spec.any)} exists"
    if spec.all:
        missing = [p for p in spec.all if not exists(p)]
        if missing:
            return f"if_files.all: {', '.join(missing)} missing"
    if spec.none:
        present = [p for p in spec.none if exists(p)]
        if present:
            return f"if_files.none: {', '.join(present)} exists"
    return ""


def service_managers(fs: CondFS) -> list[str]:
    """Service managers whose binary the root has (systemctl, openrc)."""
    found = []
    for manager, binary in (("systemd", "systemctl"), ("openrc", "openrc")):
        if any(fs.lookup(f"{d}/{binary}") is not None for d in BIN_DIRS):
            found.append(manager)
    return found


def _service_manager(ctx: RunContext, step: Step, fs: CondFS) -> str:
    wanted = step.only_service_manager.strip()
    if not wanted:
        return ""
    found = service_managers(fs)
    if len(found) > 1:
        return "only_service_manager: both systemd and openrc are present in the root"
    if not found:
        return f"only_service_manager: {wanted} wanted, no service manager found in the root"
    if found[0] != wanted.lower():
        return f"only_service_manager: {wanted} wanted, the root has {found[0]}"
    return ""


def os_release(fs: CondFS) -> dict[str, str]:
    """KEY=VALUE pairs of the root's os-release (/etc, then /usr/lib)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        data = fs.read(path)
        if data is not None:
            return parse_os_release(data.decode("utf-8", errors="replace"))
    return {}


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _regex_filter(name: str, pattern: str, values: list[str]) -> str:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        return f"{name}: invalid regex {pattern!r} ({exc})"
    if any(regex.search(v) for v in values if v):
        return ""
    seen = ", ".join(v for v in values if v) or "nothing"
    return f"{name}: {pattern!r} does not match {seen}"


def _os(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.only_os:
        return ""
    rel = os_release(fs)
    # yip matches PRETTY_NAME; ID and NAME are what operators usually write.
    values = [rel.get("ID", ""), rel.get("NAME", ""), rel.get("PRETTY_NAME", "")]
    return _regex_filter("only_os", step.only_os, values)


def _os_version(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.only_os_version:
        return ""
    rel = os_release(fs)
    return _regex_filter("only_os_version", step.only_os_version, [rel.get("VERSION_ID", "")])


def _arch(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.only_arch:
        return ""
    machine = platform.machine()
    return _regex_filter("only_arch", step.only_arch, [GO_ARCH.get(machine, machine), machine])


def hostname(ctx: RunContext, fs: CondFS) -> str:
    data = fs.read("/etc/hostname")
    if data is not None and data.strip():
        return data.decode("utf-8", errors="replace").strip()
    if ctx.root.is_host_root:
        return os.uname().nodename
    return ""


def _node(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.node:
        return ""
    return _regex_filter("node", step.node, [hostname(ctx, fs)])
