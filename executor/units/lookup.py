"""Finding unit files in a root, as `systemctl --root` does (install.c), inside the Root.

A name is looked up in each directory of the unit search path in turn; an
instance falls back to its template file. What is found is a regular file
(its [Install] section and drop-ins are read), a mask (empty file or link to
/dev/null), an alias (a link into the search path: followed by the target's
name) or a linked unit (a link out of the search path: followed to the file).

Unlike `systemctl --root`, every path is resolved through the Root, so a link
that points outside the root is followed inside it and nothing outside is read.
"""

from __future__ import annotations

import errno as E
import posixpath

from executor.errors import RootError
from executor.record import dataclass, field
from executor.root import Node, Root
from executor.units import names
from executor.units.install import InstallError, InstallSection, SpecifierError, parse_install
from executor.units.names import INSTANCE, TEMPLATE
from executor.units.specifiers import Specifiers

CONFIG_DIR = "/etc/systemd/system"  # where enable/disable/mask write
RUNTIME_DIR = "/run/systemd/system"
TRANSIENT_DIR = "/run/systemd/transient"
GENERATOR_DIRS = (
    "/run/systemd/generator.early",
    "/run/systemd/generator",
    "/run/systemd/generator.late",
)

# The system unit search path in priority order (systemd's lookup_paths_init).
# Debian's 252 is built for split /usr and has /lib before /usr/lib; we put
# /usr/lib first so that on a merged-/usr root (lib -> usr/lib) link targets
# name /usr/lib, as on the node. Both point at the same files there.
UNIT_PATHS = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    TRANSIENT_DIR,
    GENERATOR_DIRS[0],
    CONFIG_DIR,
    "/etc/systemd/system.attached",
    RUNTIME_DIR,
    "/run/systemd/system.attached",
    GENERATOR_DIRS[1],
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    GENERATOR_DIRS[2],
)

REGULAR, MASKED, ALIAS, LINKED = "regular", "masked", "alias", "linked"
FOLLOW_MAX = 64  # UNIT_FILE_FOLLOW_SYMLINK_MAX


class UnitError(Exception):
    """A unit cannot be installed or found; `code` is the errno systemd would use."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class UnitInfo:
    """One unit name as the installer knows it (systemd's InstallInfo)."""

    name: str
    path: str | None = None  # in-root path of what was found
    mode: str | None = None  # REGULAR, MASKED, ALIAS, LINKED; None until looked up
    target: str = ""  # for ALIAS and LINKED: where the link points, resolved in the root
    auxiliary: bool = False  # named by Also=, not by the user
    install: InstallSection = field(default_factory=InstallSection)


class Installer:
    """The units an enable/disable run touches, in the order systemd handles them.

    `queue` holds names still to process, `done` those processed; both keep
    insertion order, which is the order links are made in.
    """

    def __init__(self, root: Root) -> None:
        self.root = root
        self.specifiers = Specifiers(root)
        self.queue: dict[str, UnitInfo] = {}
        self.done: dict[str, UnitInfo] = {}

    # -- the queue ----------------------------------------------------------

    def add(self, name: str, *, auxiliary: bool, path: str | None = None) -> UnitInfo:
        """The info for `name`, created and queued if new."""
        known = self.done.get(name) or self.queue.get(name)
        if known is not None:
            known.auxiliary = known.auxiliary and auxiliary
            return known
        info = UnitInfo(name, path=path, auxiliary=auxiliary)
        self.queue[name] = info
        return info

    def next(self) -> UnitInfo | None:
        """Move the first queued unit to `done` and return it."""
        if not self.queue:
            return None
        name = next(iter(self.queue))
        info = self.queue.pop(name)
        self.done[name] = info
        return info

    def expand(self, info: UnitInfo, text: str) -> str:
        return self.specifiers.expand(
            text, name=info.name, default_instance=info.install.default_instance
        )

    # -- finding ------------------------------------------------------------

    def traverse(self, info: UnitInfo, *, follow_config: bool) -> UnitInfo:
        """Look `info` up and follow aliases and links to the unit that will be installed.

        Without `follow_config` an alias link in /etc/systemd/system or
        /run/systemd/system is refused, as `systemctl enable` does.
        """
        self.search(info)
        current = info
        hops = 0
        while current.mode in (ALIAS, LINKED):
            hops += 1
            if hops > FOLLOW_MAX:
                raise UnitError(f"too many levels of links from {info.name}", code=E.ELOOP)
            assert current.path is not None
            if (
                not follow_config
                and current.mode == ALIAS
                and posixpath.dirname(current.path) in (CONFIG_DIR, RUNTIME_DIR)
            ):
                raise UnitError(
                    f"refusing to operate on linked unit file {current.name} "
                    f"({current.path} -> {current.target})",
                    code=E.ELOOP,
                )
            target_name = posixpath.basename(current.target)
            if current.mode == LINKED or target_name == current.name:
                self._follow(current, current.target)
                continue
            if names.classify(current.name) == INSTANCE and names.classify(target_name) == TEMPLATE:
                # autovt@tty5.service -> getty@.service means getty@tty5.service
                instantiated = names.with_instance(target_name, names.instance(current.name))
                if instantiated == current.name:
                    self._follow(current, current.target)
                    continue
                target_name = instantiated
            follower = self.add(target_name, auxiliary=False)
            try:
                self.search(follower)
            except UnitError as exc:
                if exc.code != E.ENOENT:
                    raise
                raise UnitError(
                    f"{current.path} is an alias of {target_name}, which does not exist",
                    code=E.ENOLINK,
                ) from None
            current = follower
        return current

    def search(self, info: UnitInfo) -> None:
        """Find `info` in the search path (a template for an instance) and load it."""
        if info.mode is not None:
            return
        if info.path is not None:
            self._load(info, info.path)
            return
        kind = names.unit_type(info.name)
        if names.classify(info.name) in (INSTANCE, TEMPLATE) and kind not in names.MAY_TEMPLATE:
            raise UnitError(f"{info.name}: unit type {kind} cannot be templated", code=E.EINVAL)
        candidates = [info.name]
        if names.classify(info.name) == INSTANCE:
            candidates.append(names.template_of(info.name))
        for candidate in candidates:
            for directory in UNIT_PATHS:
                path = f"{directory}/{candidate}"
                node = self._lstat(path)
                if node is not None:
                    info.path = path
                    self._load(info, path, node)
                    break
            if info.path is not None:
                break
        if info.path is None:
            looked = " or ".join(candidates)
            raise UnitError(
                f"unit {looked} does not exist (looked in {', '.join(UNIT_PATHS)})", code=E.ENOENT
            )
        if info.mode != MASKED:
            self._load_dropins(info, candidates)

    def _follow(self, info: UnitInfo, path: str) -> None:
        info.path, info.mode, info.target = path, None, ""
        self._load(info, path)

    def _load(self, info: UnitInfo, path: str, node: Node | None = None) -> None:
        """Classify what is at `path` for unit `info` and read it when regular."""
        kind = names.unit_type(info.name)
        if kind is None:
            raise UnitError(f"{info.name} is not a valid unit name", code=E.EINVAL)
        if names.classify(info.name) in (INSTANCE, TEMPLATE) and kind not in names.MAY_TEMPLATE:
            raise UnitError(f"{path}: unit type {kind} cannot be templated", code=E.EINVAL)
        if node is None:
            node = self._lstat(path)
        if node is None:
            raise UnitError(f"unit file {path} does not exist", code=E.ENOENT)
        if node.kind == "link":
            self._read_link(info, path, node)
        elif node.kind == "file":
            if node.size == 0:
                info.mode = MASKED
                return
            info.mode = REGULAR
            self._parse(info, path)
        elif node.kind == "dir":
            raise UnitError(f"{path} is a directory, not a unit file", code=E.EISDIR)
        else:
            raise UnitError(f"{path} is not a regular file", code=E.ENOTTY)

    def _read_link(self, info: UnitInfo, path: str, node: Node) -> None:
        target = node.target
        if not target.startswith("/"):
            target = f"{posixpath.dirname(path)}/{target}"
        resolved = self.root.resolve(target, follow=False)
        if resolved.errno == E.ELOOP:
            raise UnitError(f"{path}: too many levels of symbolic links", code=E.ELOOP)
        simplified = resolved.path
        info.target = simplified
        if self._null_or_empty(simplified):
            info.mode = MASKED
        elif not in_search_path(simplified, below=True):
            info.mode = LINKED
        else:
            check_alias_link(posixpath.basename(path), simplified)
            info.mode = ALIAS

    def _null_or_empty(self, path: str) -> bool:
        """A mask: /dev/null itself (present in the root or not) or an empty file."""
        r = self.root.resolve(path)
        if r.rel == "dev/null":
            return True
        return r.errno == 0 and r.node is not None and r.node.kind == "file" and r.node.size == 0

    def _parse(self, info: UnitInfo, path: str) -> None:
        try:
            text = self.root.read_text(path)
        except RootError as exc:
            raise UnitError(f"cannot read {path}: {exc}", code=exc.errno or E.EIO) from None

        def add_also(name: str) -> None:
            self.add(name, auxiliary=True)

        try:
            parse_install(
                text,
                source=path,
                unit=info.name,
                into=info.install,
                expand=lambda value: self.expand(info, value),
                add_also=add_also,
            )
        except (InstallError, SpecifierError) as exc:
            raise UnitError(f"{info.name}: {exc}", code=E.EINVAL) from None

    def _load_dropins(self, info: UnitInfo, candidates: list[str]) -> None:
        """Parse NAME.d/*.conf (and TEMPLATE.d/*.conf) from every unit directory.

        A file name seen in an earlier directory hides the same name in later
        ones; the survivors are read in lexical order of their names.
        """
        chosen: dict[str, str] = {}
        for candidate in candidates:
            for directory in UNIT_PATHS:
                dropin_dir = f"{directory}/{candidate}.d"
                for entry in self.root.listdir(dropin_dir):
                    if entry.startswith(".") or not entry.endswith(".conf") or entry in chosen:
                        continue
                    node = self._lstat(f"{dropin_dir}/{entry}")
                    if node is not None and node.kind in ("file", "link"):
                        chosen[entry] = f"{dropin_dir}/{entry}"
        for entry in sorted(chosen):
            path = chosen[entry]
            node = self.root.lookup(path)
            if node is None or node.kind != "file" or node.size == 0:
                continue  # dangling, a directory, or masked by an empty file or /dev/null
            self._parse(info, path)

    def _lstat(self, path: str) -> Node | None:
        return self.root.lookup(path, follow=False)


def in_search_path(path: str, *, below: bool = False) -> bool:
    """Whether `path` is directly in a unit directory (or anywhere below one)."""
    if below:
        return any(path.startswith(d + "/") for d in UNIT_PATHS)
    return posixpath.dirname(path) in UNIT_PATHS


def check_alias_link(link_name: str, target: str) -> None:
    """systemd's rules for an alias symlink LINK_NAME -> TARGET in a unit directory."""
    src, dst = link_name, posixpath.basename(target)
    src_kind = names.classify(src)
    if src_kind is None:
        raise UnitError(f"{link_name} is not a valid unit name", code=E.EINVAL)
    src_type = names.unit_type(src)
    if src_type not in names.MAY_ALIAS:
        raise UnitError(f"{link_name}: {src_type} units cannot have alias links", code=E.EINVAL)
    if src_kind != names.PLAIN and src_type not in names.MAY_TEMPLATE:
        raise UnitError(f"{link_name}: {src_type} units cannot be templates", code=E.EINVAL)
    if src == dst:
        raise UnitError(
            f"refusing to operate on linked unit file {link_name} (it links to itself, {target})",
            code=E.ELOOP,
        )
    dst_kind = names.classify(dst)
    if dst_kind is None:
        raise UnitError(
            f"{link_name} points to {target}, which is not a valid unit name", code=E.EXDEV
        )
    if not (dst_kind == src_kind or (src_kind == INSTANCE and dst_kind == TEMPLATE)):
        raise UnitError(
            f"{link_name}: link target {dst} is not the same kind of name", code=E.EXDEV
        )
    if dst_kind == INSTANCE and names.instance(src) != names.instance(dst):
        raise UnitError(f"{link_name}: link target {dst} has another instance", code=E.EXDEV)
    if names.unit_type(dst) != src_type:
        raise UnitError(f"{link_name}: link target {dst} has an incompatible suffix", code=E.EXDEV)
