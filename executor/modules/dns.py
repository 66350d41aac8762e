"""`dns`: resolv.conf at `path` (default /etc/resolv.conf), as yip builds it.

`search` (unless it is just "."), one `nameserver` line each, then `options`.
Nothing is written without a nameserver. A symlinked resolv.conf (systemd's
stub) has its target replaced, inside the root; a path whose directory does
not exist is an error, as in yip.
"""

from __future__ import annotations

from executor.actions import Action
from executor.context import RunContext
from executor.model import DnsSpec
from executor.modules.fsplan import plan_file

DEFAULT_PATH = "/etc/resolv.conf"


def resolv_conf(spec: DnsSpec) -> str:
    lines = []
    search = " ".join(spec.search)
    if spec.search and search.strip(" ") != ".":
        lines.append(f"search {search}")
    lines += [f"nameserver {server}" for server in spec.nameservers]
    options = " ".join(spec.options)
    if spec.options and options.strip(" "):
        lines.append(f"options {options}")
    return "".join(line + "\n" for line in lines)


def plan_dns(ctx: RunContext, spec: DnsSpec | None) -> list[Action]:
    if spec is None or not spec.nameservers:
        return []
    # Its directory must exist (yip writes with os.WriteFile, which makes none).
    return plan_file(
        ctx,
        spec.path or DEFAULT_PATH,
        resolv_conf(spec).encode(),
        mode=None,
        uid=None,
        gid=None,
        kind="dns",
        parents=False,
    )
