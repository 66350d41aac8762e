"""The step filters besides `if`, each read inside the root.

Each check returns "" when the step may run, or the reason it is skipped,
naming the filter and what it saw. The regex filters use Go's RE2 syntax in
yip; Python's `re` reads the same patterns the same way except for
constructs RE2 lacks (look-around, back-references), which are refused as
yip refuses them, and `\\z`, which is Python's `\\Z`.
"""

from __future__ import annotations

import os
import re

from executor.conditions.shell import NotNative
from executor.model import Step

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from executor.conditions.condfs import CondFS
    from executor.context import RunContext

BIN_DIRS = ("/sbin", "/bin", "/usr/sbin", "/usr/bin")
SERVICE_MANAGERS = (("systemd", "systemctl"), ("openrc", "openrc"))

# ELF e_machine -> uname -m, to tell the architecture of an image root.
_ELF_MACHINE = {
    0x03: "i686",
    0x28: "armv7l",
    0x3E: "x86_64",
    0xB7: "aarch64",
    0x16: "s390x",
    0xF3: "riscv64",
}
_ROOT_BINARIES = (
    "/bin/sh",
    "/usr/bin/sh",
    "/sbin/init",
    "/usr/lib/systemd/systemd",
    "/bin/busybox",
)


def _read(fs: CondFS, path: str) -> bytes | None:
    """Content of a regular file in the root, None for anything else."""
    try:
        return fs.read(path)
    except NotNative:  # a FIFO or device where a file belongs: never block on it
        return None


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
    for manager, binary in SERVICE_MANAGERS:
        if any(fs.lookup(f"{d}/{binary}") is not None for d in BIN_DIRS):
            found.append(manager)
    return found


def _service_manager(ctx: RunContext, step: Step, fs: CondFS) -> str:
    wanted = step.only_service_manager.strip().lower()
    if not wanted:
        return ""
    if wanted not in (m for m, _ in SERVICE_MANAGERS):
        return f"only_service_manager: {wanted!r} is not supported (systemd or openrc)"
    found = service_managers(fs)
    if len(found) > 1:
        return "only_service_manager: both systemctl and openrc are present in the root"
    if not found:
        return f"only_service_manager: {wanted} wanted, neither systemctl nor openrc in the root"
    if found[0] != wanted:
        return f"only_service_manager: {wanted} wanted, the root has {found[0]}"
    return ""


def os_release(fs: CondFS) -> dict[str, str]:
    """KEY=VALUE pairs of the root's os-release (/etc, then /usr/lib)."""
    # imported here: only a step with only_os/only_os_version reads os-release
    from executor.osinfo import OS_RELEASE_PATHS, parse_os_release

    for path in OS_RELEASE_PATHS:
        data = _read(fs, path)
        if data is not None:
            return parse_os_release(data.decode("utf-8", errors="replace"))
    return {}


def go_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Go (RE2) pattern with Python; re.error for what RE2 rejects."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt.isdigit() and nxt != "0":
                raise re.error("back-references are not supported by RE2")
            if nxt == "Z":
                raise re.error("\\Z is not supported by RE2")
            out.append("\\Z" if nxt == "z" else c + nxt)
            i += 2
            continue
        if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            raise re.error("look-around is not supported by RE2")
        out.append(c)
        i += 1
    return re.compile("".join(out), re.ASCII)


def _regex_filter(name: str, pattern: str, values: list[tuple[str, str]]) -> str:
    """ "" when `pattern` matches one of the (label, value) pairs, else the reason."""
    try:
        regex = go_regex(pattern)
    except re.error as exc:
        return f"{name}: invalid regex {pattern!r} ({exc})"
    if any(regex.search(value) for _, value in values if value):
        return ""
    seen = ", ".join(f"{label}={value!r}" for label, value in values if value) or "nothing"
    return f"{name}: {pattern!r} does not match {seen}"


def _os(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.only_os:
        return ""
    rel = os_release(fs)
    # yip matches PRETTY_NAME; ID and NAME are what operators usually write.
    keys = ("PRETTY_NAME", "NAME", "ID")
    return _regex_filter("only_os", step.only_os, [(k, rel.get(k, "")) for k in keys])


def _os_version(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.only_os_version:
        return ""
    rel = os_release(fs)
    return _regex_filter(
        "only_os_version", step.only_os_version, [("VERSION_ID", rel.get("VERSION_ID", ""))]
    )


def machine(ctx: RunContext, fs: CondFS) -> str:
    """uname -m of the system the root is for: this machine's, or an image's own."""
    if not ctx.root.is_host_root:
        for path in _ROOT_BINARIES:
            found = elf_machine(_read(fs, path) or b"")
            if found:
                return found
    return os.uname().machine


def elf_machine(header: bytes) -> str:
    """uname -m for an ELF executable's header, "" when it is not one we know."""
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return ""
    little = header[5] == 1
    number = int.from_bytes(header[18:20], "little" if little else "big")
    if number == 0x15:  # PowerPC 64
        return "ppc64le" if little else "ppc64"
    return _ELF_MACHINE.get(number, "")


def _arch(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.only_arch:
        return ""
    from executor.osinfo import go_arch  # only a step with only_arch needs it

    uname = machine(ctx, fs)
    values = [("GOARCH", go_arch(uname)), ("uname -m", uname)]
    return _regex_filter("only_arch", step.only_arch, values)


def hostname(ctx: RunContext, fs: CondFS) -> tuple[str, str]:
    """(hostname, where from): the running kernel's when the root is `/`, else
    the root's /etc/hostname (hostnames.node_hostname)."""
    from executor.hostnames import node_hostname

    return node_hostname(ctx.root.is_host_root, lambda: _read(fs, "/etc/hostname"))


def _node(ctx: RunContext, step: Step, fs: CondFS) -> str:
    if not step.node:
        return ""
    name, where = hostname(ctx, fs)
    return _regex_filter("node", step.node, [(f"hostname (from {where})", name)])
