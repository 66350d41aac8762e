"""Templating where yip applies it, with the data yip gives.

Commands, file content, entities and environment values are rendered with
`{"Values": <facts about the system>}` (yip's `.Values.node.hostname`,
`.Values.os.name`, ...); `hostname` has its own data: `.MachineID`, `.UUID`,
`.Random`. Every fact is read from the ROOT, never from the machine running
the executor, unless the root is `/`: the kernel of a fake root is not ours.

Text without `{{` is returned as it is, without importing the template
engine: most steps have none.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping

from executor.context import RunContext
from executor.errors import StepError
from executor.hostnames import node_hostname
from executor.osinfo import go_arch, root_os_release
from executor.root import Root

MACHINE_ID_PATHS = ("/var/lib/dbus/machine-id", "/etc/machine-id")
RANDOM_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

_VALUES: weakref.WeakKeyDictionary[Root, dict[str, object]] = weakref.WeakKeyDictionary()


def render_text(ctx: RunContext, text: str, *, where: str) -> str:
    """`text` rendered with the system data; a template problem fails the step."""
    if "{{" not in text:
        return text
    return render_with(text, {"Values": system_values(ctx.root)}, where=where)


def render_with(text: str, data: Mapping[str, object], *, where: str) -> str:
    from executor.template import TemplateError, render

    try:
        return render(text, data)
    except TemplateError as exc:
        raise StepError(f"{where}: {exc}") from None


def hostname_data(root: Root) -> dict[str, object]:
    """The data of a `hostname` template: the root's machine id, a UUID, 32 random chars."""
    import uuid

    data: dict[str, object] = {"UUID": str(uuid.uuid4()), "Random": random_string(32)}
    mid = machine_id(root)
    if mid:
        data["MachineID"] = mid
    return data


def random_string(length: int) -> str:
    import secrets

    return "".join(secrets.choice(RANDOM_ALPHABET) for _ in range(length))


def machine_id(root: Root) -> str:
    """The root's machine id, where denisbrodbeck/machineid (yip's) looks for it."""
    for path in MACHINE_ID_PATHS:
        text = _first_line(root, path)
        if text:
            return text
    if root.is_host_root:
        return _first_line(root, "/sys/class/dmi/id/product_uuid")
    return ""


def system_values(root: Root) -> dict[str, object]:
    """`.Values`: the sysinfo facts yip templates with, as far as the root tells them.

    node and os come from the root's files; kernel (and the architecture)
    only when the root is the running system. A fact that is not known is
    absent, so a template using it fails instead of printing garbage.
    """
    cached = _VALUES.get(root)
    if cached is None:
        cached = _collect(root)
        _VALUES[root] = cached
    return cached


def _collect(root: Root) -> dict[str, object]:
    live = root.is_host_root
    node: dict[str, object] = {}
    hostname = node_hostname(live, lambda: root.read_text_or_empty("/etc/hostname").encode())[0]
    if hostname:
        node["hostname"] = hostname
    mid = _first_line(root, "/etc/machine-id") or _first_line(root, "/var/lib/dbus/machine-id")
    if mid:
        node["machineid"] = mid
    zone = _timezone(root)
    if zone:
        node["timezone"] = zone
    osinfo: dict[str, object] = {}
    release = root_os_release(root)
    for key, field in (
        ("name", "PRETTY_NAME"),
        ("vendor", "ID"),
        ("version", "VERSION_ID"),
        ("release", "VERSION_ID"),
    ):
        if release.get(field):
            osinfo[key] = release[field]
    values: dict[str, object] = {"node": node, "os": osinfo}
    if live:
        uname = os.uname()
        osinfo["architecture"] = go_arch(uname.machine)
        values["kernel"] = {
            "release": uname.release,
            "version": uname.version,
            "architecture": uname.machine,
        }
    return values


def _first_line(root: Root, path: str) -> str:
    text = root.read_text_or_empty(path)
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _timezone(root: Root) -> str:
    zone = _first_line(root, "/etc/timezone")
    if zone:
        return zone
    node = root.lookup("/etc/localtime", follow=False)
    if node is not None and node.kind == "link" and "zoneinfo/" in node.target:
        return node.target.split("zoneinfo/", 1)[1]
    return ""
