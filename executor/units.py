"""systemd unit files in a root: lookup, [Install] parsing, and the links
`systemctl --root=DIR enable|disable|mask|unmask` makes.

This is pure planning over the Root: it returns symlink/remove Actions and
touches nothing itself.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from executor.actions import CREATE, NONE, REMOVE, Action
from executor.errors import StepError
from executor.modules.fsplan import plan_parents
from executor.root import Node, Root

CONFIG_DIR = "/etc/systemd/system"

# The system unit search path of `systemctl --root` (systemd's lookup_paths),
# in priority order. /usr/lib comes before /lib so that on a merged-/usr root
# link targets name /usr/lib, as they do on the node.
UNIT_PATHS = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    CONFIG_DIR,
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/run/systemd/generator.late",
)

UNIT_SUFFIXES = (
    ".service", ".socket", ".target", ".timer", ".path", ".mount", ".automount",
    ".swap", ".slice", ".scope", ".device",
)


def unit_name(name: str) -> str:
    """A unit name with a suffix: `foo` means `foo.service`, as systemctl says."""
    name = name.strip()
    if not name.endswith(UNIT_SUFFIXES):
        name += ".service"
    return name


@dataclass
class InstallInfo:
    wanted_by: list[str] = field(default_factory=list)
    required_by: list[str] = field(default_factory=list)
    upheld_by: list[str] = field(default_factory=list)
    alias: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    default_instance: str = ""

    def is_empty(self) -> bool:
        return not (self.wanted_by or self.required_by or self.upheld_by or self.alias or self.also)


def find_unit(root: Root, name: str) -> str | None:
    """In-root path of the unit file for `name` (a template for an instance)."""
    candidates = [name]
    if "@" in name:
        prefix, _, rest = name.partition("@")
        template = f"{prefix}@{rest[rest.rfind('.'):]}"
        if template != name:
            candidates.append(template)
    for candidate in candidates:
        for directory in UNIT_PATHS:
            path = f"{directory}/{candidate}"
            if root.lookup(path, follow=False) is not None:
                return path
    return None


def parse_install(text: str) -> InstallInfo:
    """The [Install] section of a unit file, with systemd's line rules."""
    info = InstallInfo()
    section = ""
    for line in _logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Install" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        words = value.split()
        if key == "WantedBy":
            info.wanted_by = [] if not words else info.wanted_by + words
        elif key == "RequiredBy":
            info.required_by = [] if not words else info.required_by + words
        elif key == "UpheldBy":
            info.upheld_by = [] if not words else info.upheld_by + words
        elif key == "Alias":
            info.alias = [] if not words else info.alias + words
        elif key == "Also":
            info.also = [] if not words else info.also + words
        elif key == "DefaultInstance":
            info.default_instance = value
    return info


def _logical_lines(text: str) -> list[str]:
    """Lines with comments dropped and backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if pending and line and line[0] in "#;":
            continue  # a comment inside a continuation is skipped
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((pending + line).strip())
        pending = ""
    if pending:
        out.append(pending.strip())
    return out


def plan_enable(root: Root, name: str) -> list[Action]:
    name = unit_name(name)
    path = find_unit(root, name)
    if path is None:
        raise StepError(f"unit {name} not found in the root (looked in {', '.join(UNIT_PATHS)})")
    info = parse_install(root.read_text(path))
    actions: list[Action] = []
    for target in info.wanted_by:
        actions += (_link(root, f"{CONFIG_DIR}/{target}.wants/{name}", path))
    for target in info.required_by:
        actions += (_link(root, f"{CONFIG_DIR}/{target}.requires/{name}", path))
    for target in info.upheld_by:
        actions += (_link(root, f"{CONFIG_DIR}/{target}.upholds/{name}", path))
    for alias in info.alias:
        actions += (_link(root, f"{CONFIG_DIR}/{alias}", path))
    for also in info.also:
        actions += plan_enable(root, also)
    return actions


def _link(root: Root, link: str, target: str) -> list[Action]:
    """The link, after any missing parent directory (0755, root-owned, as systemctl)."""
    node = root.lookup(link, follow=False)
    if node is not None and node.kind == "link" and node.target == target:
        return [Action("symlink", link, NONE, target=target)]
    parents = plan_parents(root, link, mode=0o755, uid=0, gid=0)
    return [*parents, Action("symlink", link, CREATE, target=target)]


def plan_mask(root: Root, name: str) -> list[Action]:
    link = f"{CONFIG_DIR}/{unit_name(name)}"
    node = root.lookup(link, follow=False)
    if node is not None and node.kind != "link":
        raise StepError(f"cannot mask {unit_name(name)}: {link} is a unit file")
    return _link(root, link, "/dev/null")


def plan_unmask(root: Root, name: str) -> list[Action]:
    link = f"{CONFIG_DIR}/{unit_name(name)}"
    node = root.lookup(link, follow=False)
    if node is not None and node.kind == "link" and node.target == "/dev/null":
        return [Action("remove", link, REMOVE)]
    return []


def plan_disable(root: Root, name: str) -> list[Action]:
    """Remove every link under the config dir named after, or pointing at, the unit."""
    name = unit_name(name)
    names = {name}
    path = find_unit(root, name)
    if path is not None:
        info = parse_install(root.read_text(path))
        names.update(info.alias)
        for also in info.also:
            names.add(unit_name(also))
    actions: list[Action] = []
    for link, node in _links_below(root, CONFIG_DIR):
        if node.target == "/dev/null":
            continue  # a mask is undone by unmask, not disable
        if posixpath.basename(link) in names or posixpath.basename(node.target) in names:
            actions.append(Action("remove", link, REMOVE))
    return actions


def _links_below(root: Root, directory: str) -> list[tuple[str, Node]]:
    out: list[tuple[str, Node]] = []
    for entry in root.listdir(directory):
        path = f"{directory}/{entry}"
        node = root.lookup(path, follow=False)
        if node is None:
            continue
        if node.kind == "link":
            out.append((path, node))
        elif node.kind == "dir":
            out += _links_below(root, path)
    return out
