"""`hostname`: /etc/hostname, the 127.0.0.1 line of /etc/hosts, and the
running kernel's hostname when the root is `/`.

The name is a template with its own data, as in yip: `.MachineID` (the
root's machine id), `.UUID` and `.Random`. /etc/hosts is rewritten as yip
does: every line trimmed, each line whose first field is 127.0.0.1 becomes
`127.0.0.1 localhost NAME`; a hosts file without such a line gets no name.
"""

from __future__ import annotations

import socket

from executor.accounts import file_lines
from executor.actions import NONE, UPDATE, Action
from executor.context import RunContext
from executor.errors import StepError
from executor.modules.fsplan import plan_file
from executor.modules.templating import hostname_data, render_with

HOSTNAME_FILE, HOSTS_FILE = "/etc/hostname", "/etc/hosts"
HOST_NAME_MAX = 64
LOCALHOST = "127.0.0.1"


def render_hostname(ctx: RunContext, template: str) -> str:
    if "{{" not in template:
        name = template
    else:
        name = render_with(template, hostname_data(ctx.root), where="host name")
    check_hostname(name)
    return name


def check_hostname(name: str) -> None:
    if not name:
        raise StepError("the host name is empty")
    if len(name) > HOST_NAME_MAX:
        raise StepError(f"host name {name!r} is longer than {HOST_NAME_MAX} characters")
    bad = [c for c in name if c.isspace() or c in "/\0" or not c.isprintable()]
    if bad:
        raise StepError(f"host name {name!r} contains {bad[0]!r}")


def hosts_with(text: str, name: str) -> str:
    out = []
    for line in file_lines(text):
        line = line.strip()  # also drops the \r Go's line scanner would
        fields = line.split()
        out.append(f"{LOCALHOST} localhost {name}" if fields and fields[0] == LOCALHOST else line)
    return "".join(line + "\n" for line in out)


def plan_hostname(ctx: RunContext, template: str) -> list[Action]:
    if not template:
        return []
    name = render_hostname(ctx, template)
    root = ctx.root
    actions = plan_file(
        ctx, HOSTNAME_FILE, f"{name}\n".encode(), mode=None, uid=None, gid=None, kind="hostname"
    )
    hosts = root.lookup(HOSTS_FILE)
    if hosts is None:
        actions.append(
            Action(
                "hostname",
                HOSTS_FILE,
                NONE,
                detail="skipped: the root has no /etc/hosts to update",
                skipped=True,
            )
        )
    else:
        text = root.read_text(HOSTS_FILE)
        actions += plan_file(
            ctx,
            HOSTS_FILE,
            hosts_with(text, name).encode(),
            mode=None,
            uid=None,
            gid=None,
            kind="hostname",
        )
    if root.is_host_root:
        change = NONE if socket.gethostname() == name else UPDATE
        actions.append(
            Action("sethostname", "", change, command=f"hostname {name}", data=name.encode())
        )
    else:
        actions.append(
            Action(
                "sethostname",
                "",
                NONE,
                command=f"hostname {name}",
                detail="skipped: the running kernel's name is set only when the root is /",
                skipped=True,
            )
        )
    return actions
