"""`timesyncd`: settings of the [Time] section of systemd-timesyncd.

Written where current yip writes them, the drop-in
/etc/systemd/timesyncd.conf.d/10-yip.conf, so the vendor timesyncd.conf is
left alone. Existing lines of the drop-in are kept; a key being set is
replaced in place, new keys are appended to [Time] in sorted order.
"""

from __future__ import annotations

from collections.abc import Mapping

from executor.accounts import file_lines
from executor.actions import Action
from executor.context import RunContext
from executor.errors import StepError
from executor.modules.fsplan import plan_file

DROP_IN = "/etc/systemd/timesyncd.conf.d/10-yip.conf"
SECTION = "Time"


def plan_timesyncd(ctx: RunContext, settings: Mapping[str, str]) -> list[Action]:
    if not settings:
        return []
    for key, value in settings.items():
        if not key or any(c in key for c in "=[]\n") or key != key.strip() or "\n" in value:
            raise StepError(f"{key}={value!r} is not a valid setting")
    node = ctx.root.lookup(DROP_IN)
    old = ctx.root.read_text(DROP_IN) if node is not None and node.kind == "file" else ""
    new = set_ini(old, SECTION, settings)
    return plan_file(ctx, DROP_IN, new.encode(), mode=None, uid=None, gid=None, kind="timesyncd")


def set_ini(text: str, section: str, settings: Mapping[str, str]) -> str:
    """`text` (a systemd-style INI file) with `settings` set in `section`."""
    lines = file_lines(text)
    start = end = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if start is not None and end is None:
                end = i
            if stripped[1:-1].strip() == section and start is None:
                start = i
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append(f"[{section}]")
        start, end = len(lines) - 1, len(lines)
    elif end is None:
        end = len(lines)
    done: set[str] = set()
    for i in range(start + 1, end):
        key = lines[i].split("=", 1)[0].strip()
        if "=" in lines[i] and key in settings and not lines[i].lstrip().startswith(("#", ";")):
            lines[i] = f"{key}={settings[key]}"
            done.add(key)
    insert_at = end
    while insert_at > start + 1 and not lines[insert_at - 1].strip():
        insert_at -= 1  # before the blank lines that separate the next section
    new = [f"{k}={settings[k]}" for k in sorted(settings) if k not in done]
    lines[insert_at:insert_at] = new
    return "\n".join(lines) + "\n"
