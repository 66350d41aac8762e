"""enable, disable, mask and unmask as links planned in a root (systemd's install.c).

Each function plans one verb over all its units, the way one
`systemctl --root=DIR VERB UNIT...` call works, recording symlink, remove
and directory actions in a Plan. Problems systemctl reports as errors raise
StepError (the systemctl module calls these once per unit, as yip does, so
a unit that fails leaves the others done); what systemctl only warns about
comes back as notes.
"""

from __future__ import annotations

import errno as E
import posixpath
from collections.abc import Iterator

from executor.actions import CREATE, NONE, REMOVE, UPDATE, Action, Note
from executor.errors import StepError
from executor.modules.fsplan import default_owner, plan_parents
from executor.root import Node
from executor.units import names
from executor.units.install import SpecifierError
from executor.units.lookup import (
    CONFIG_DIR,
    GENERATOR_DIRS,
    MASKED,
    REGULAR,
    TRANSIENT_DIR,
    Installer,
    UnitError,
    UnitInfo,
    check_alias_link,
    in_search_path,
)
from executor.units.names import INSTANCE, TEMPLATE, UnitNameError
from executor.units.view import Plan

NULL = "/dev/null"
NO_INSTALL_CONFIG = (
    "no installation config ([Install] WantedBy=, RequiredBy=, UpheldBy=, Alias=, Also=, "
    "or DefaultInstance= for a template): nothing to enable; such a unit is started by "
    "another unit, by activation, or is a template that needs an instance"
)
DEPENDENCY_DIRS = (("wanted_by", ".wants"), ("required_by", ".requires"), ("upheld_by", ".upholds"))


def plan_enable(plan: Plan, args: list[str]) -> list[Note]:
    """Plan `systemctl enable ARGS...`; returns notes. Raises StepError on errors."""
    installer = Installer(plan.view)
    for arg in args:
        name, path = _name_or_path(arg)
        info = installer.add(name, auxiliary=False, path=path)
        try:
            found = installer.traverse(info, follow_config=False)
            _check_installable(found)
        except UnitError as exc:
            raise StepError(f"cannot enable {arg}: {exc}") from None
    enabler = _Enabler(plan, installer)
    enabler.run()
    if enabler.errors:
        raise StepError("; ".join(enabler.errors))
    if enabler.links == 0:
        enabler.notes.append(Note(f"{', '.join(args)}: {NO_INSTALL_CONFIG}", skipped=True))
    return enabler.notes


def plan_disable(plan: Plan, args: list[str]) -> list[Note]:
    """Plan `systemctl disable ARGS...`: remove every link in /etc/systemd/system
    named after, or leading to, the units; returns notes."""
    installer = Installer(plan.view)
    notes: list[Note] = []
    for arg in args:
        name = _disable_name(arg, notes)
        installer.add(name, auxiliary=False)
    marked: set[str] = set()
    while (info := installer.next()) is not None:
        try:
            installer.traverse(info, follow_config=True)
        except UnitError as exc:
            if not (exc.code == E.ENOENT and info.auxiliary):
                notes.append(Note(f"{info.name}: {exc}; removing links by name"))
            marked.add(info.name)
            continue
        notes += _parse_warnings(info)
        if info.mode == MASKED:
            notes.append(
                Note(f"{info.name} is masked ({info.path}): nothing disabled", skipped=True)
            )
            continue
        if info.mode == REGULAR:
            marked.add(info.name)
    if marked:
        _remove_links(plan, marked)
    return notes


def plan_mask(plan: Plan, args: list[str]) -> list[Note]:
    """Plan `systemctl mask`: /etc/systemd/system/NAME -> /dev/null for each name."""
    errors = []
    for arg in args:
        try:
            name = _plain_name(arg)
            _link(plan, f"{CONFIG_DIR}/{name}", NULL, replace=False)
        except (UnitError, UnitNameError) as exc:
            errors.append(f"cannot mask {arg}: {exc}")
    if errors:
        raise StepError("; ".join(errors))
    return []


def plan_unmask(plan: Plan, args: list[str]) -> list[Note]:
    """Plan `systemctl unmask`: remove /etc/systemd/system/NAME when it is a mask.

    A mask is a link to /dev/null or an empty file. `systemctl --root` looks
    at a mask link's target on the host; here it is resolved in the root,
    where /dev/null need not exist: the path itself decides.
    """
    view = plan.view
    paths = []
    for arg in args:
        try:
            paths.append(f"{CONFIG_DIR}/{_plain_name(arg)}")
        except UnitNameError as exc:
            raise StepError(f"cannot unmask {arg}: {exc}") from None
    for path in dict.fromkeys(paths):
        node = view.lookup(path, follow=False)
        if node is None or node.kind not in ("file", "link"):
            continue
        end = view.resolve(path)
        empty = end.node is not None and end.node.kind == "file" and end.node.size == 0
        if end.rel == NULL[1:] or (end.errno == 0 and empty):
            plan.record(Action("remove", path, REMOVE, target=node.target))
    return []


# -- enable -------------------------------------------------------------------


class _Enabler:
    """The apply half of enable (install_context_apply): links for each queued unit."""

    def __init__(self, plan: Plan, installer: Installer) -> None:
        self.plan = plan
        self.installer = installer
        self.errors: list[str] = []
        self.notes: list[Note] = []
        self.links = 0  # links made or already there: 0 means "no installation config"

    def run(self) -> None:
        while (info := self.installer.next()) is not None:
            try:
                self.installer.traverse(info, follow_config=False)
            except UnitError as exc:
                if info.auxiliary:
                    self.notes.append(
                        Note(f"auxiliary unit {info.name} (Also=) not enabled: {exc}", skipped=True)
                    )
                    continue
                self.errors.append(f"cannot enable {info.name}: {exc}")
                return
            if info.mode == MASKED:
                self.notes.append(
                    Note(f"{info.name} is masked ({info.path}): not enabled", skipped=True)
                )
                self.links += 1  # it could have been enabled: no "no install config" note
                continue
            if info.mode != REGULAR:
                continue  # an alias name: the unit it leads to is queued after it
            self.notes += _parse_warnings(info)
            self._apply(info)

    def _apply(self, info: UnitInfo) -> None:
        assert info.path is not None
        # A linked unit file (enabled by path, or linked from outside the unit
        # directories) gets its own name linked first.
        linked = not in_search_path(info.path)
        if linked and not self._link(info, f"{CONFIG_DIR}/{info.name}", replace=False):
            return
        for alias in info.install.aliases:
            self._alias(info, alias)
        for attr, suffix in DEPENDENCY_DIRS:
            self._dependencies(info, getattr(info.install, attr), suffix)

    def _alias(self, info: UnitInfo, alias: str) -> None:
        try:
            dst = self.installer.expand(info, alias)
            dst = _verify_alias(info.name, dst)
        except SpecifierError as exc:
            self.errors.append(f"{info.name}: Alias={alias}: {exc}")
            return
        except UnitError as exc:
            if exc.code != E.ELOOP:  # an alias to itself is skipped quietly
                self.errors.append(f"{info.name}: {exc}")
            return
        self._link(info, f"{CONFIG_DIR}/{dst}", replace=False)

    def _dependencies(self, info: UnitInfo, entries: list[str], suffix: str) -> None:
        if not entries:
            return
        kind = names.classify(info.name)
        link_name = info.name
        allowed = names.ANY
        if kind == TEMPLATE and info.install.default_instance:
            link_name = names.with_instance(info.name, info.install.default_instance)
            if self._instance_masked(link_name):
                return
        elif kind == TEMPLATE:
            # No instance yet: only a template or instance unit can pull it in,
            # and that unit's instance will be used.
            allowed = frozenset((INSTANCE, TEMPLATE))
        for entry in entries:
            try:
                dst = self.installer.expand(info, entry)
            except SpecifierError as exc:
                self.errors.append(f"{info.name}: {_key(suffix)}={entry}: {exc}")
                continue
            dst_kind = names.classify(dst)
            if dst_kind is None:
                self.errors.append(
                    f"{info.name}: {_key(suffix)}={entry}: {dst!r} is not a valid unit name"
                )
            elif dst_kind not in allowed:
                self.errors.append(
                    f"cannot enable {info.name}: {_key(suffix)}={dst} is a non-template unit; "
                    f"enable an instance ({names.prefix(info.name)}@NAME"
                    f".{names.unit_type(info.name)}) or set DefaultInstance="
                )
            else:
                self._link(info, f"{CONFIG_DIR}/{dst}{suffix}/{link_name}", replace=True)

    def _instance_masked(self, instance_name: str) -> bool:
        probe = UnitInfo(instance_name)
        lookup = Installer(self.plan.view)
        try:
            lookup.search(probe)
        except UnitError as exc:
            self.errors.append(f"cannot enable {instance_name}: {exc}")
            return True
        if probe.mode == MASKED:
            self.errors.append(f"cannot enable {instance_name}: it is masked ({probe.path})")
            return True
        return False

    def _link(self, info: UnitInfo, path: str, *, replace: bool) -> bool:
        assert info.path is not None
        try:
            _link(self.plan, path, info.path, replace=replace)
        except UnitError as exc:
            self.errors.append(f"cannot enable {info.name}: {exc}")
            return False
        self.links += 1
        return True


def _key(suffix: str) -> str:
    return {".wants": "WantedBy", ".requires": "RequiredBy", ".upholds": "UpheldBy"}[suffix]


def _verify_alias(unit: str, dst: str) -> str:
    """The link name for `Alias=DST` of `unit` (unit_file_verify_alias), or UnitError."""
    if "/" in dst:
        # legacy form: Alias=foo.target.wants/unit.service
        directory, link = posixpath.split(dst)
        if directory.endswith(".wants"):
            stem = directory.removesuffix(".wants")
        else:
            stem = directory.removesuffix(".requires")
        if stem == directory or names.classify(stem) is None:
            raise UnitError(f"invalid unit reference {dst!r} in Alias=", code=E.EXDEV)
        propagate = names.classify(stem) == TEMPLATE
        if not _symlink_name_compatible(link, unit, instance_propagation=propagate):
            raise UnitError(f"cannot alias {unit} as {dst}", code=E.EXDEV)
        return dst
    updated = dst
    if names.classify(dst) == TEMPLATE and names.classify(unit) == INSTANCE:
        updated = names.with_instance(dst, names.instance(unit))
    try:
        check_alias_link(updated, unit)
    except UnitError as exc:
        if exc.code == E.ELOOP:
            raise
        raise UnitError(f"cannot alias {unit} as {updated}", code=E.EXDEV) from None
    return updated


def _symlink_name_compatible(link: str, target: str, *, instance_propagation: bool) -> bool:
    link_kind, target_kind = names.classify(link), names.classify(target)
    if link == target and link_kind in (names.PLAIN, INSTANCE):
        return True
    if link_kind not in (INSTANCE, TEMPLATE):
        return False
    template = names.template_of(link)
    if link_kind == INSTANCE and target_kind == TEMPLATE and template == target:
        return True
    return (
        instance_propagation
        and link_kind == TEMPLATE
        and target_kind == TEMPLATE
        and template == target
    )


def _check_installable(info: UnitInfo) -> None:
    """install_info_may_process: masked, generated and transient units are not enabled."""
    assert info.path is not None
    if info.mode == MASKED:
        raise UnitError(f"unit {info.path} is masked", code=E.ERFKILL)
    parent = posixpath.dirname(info.path)
    if parent in GENERATOR_DIRS or parent == TRANSIENT_DIR:
        raise UnitError(f"unit {info.path} is transient or generated", code=E.EADDRNOTAVAIL)


def _parse_warnings(info: UnitInfo) -> list[Note]:
    warnings = info.install.warnings
    info.install.warnings = []  # report each once
    return [Note(text) for text in warnings]


# -- links --------------------------------------------------------------------


def _link(plan: Plan, path: str, target: str, *, replace: bool) -> None:
    """Plan the link PATH -> TARGET as systemctl's create_symlink does.

    A link already there that leads to the same unit is kept. A different
    link is replaced when `replace` (.wants/.requires links), an error
    otherwise (alias and mask links); anything else there is an error.
    """
    view = plan.view
    where = view.resolve(path, follow=False)
    if where.errno in (E.ENOTDIR, E.ELOOP):
        raise UnitError(f"cannot create {path}: a parent is not a directory", code=where.errno)
    node = where.node if where.errno == 0 else None
    if node is None:
        uid, gid = default_owner()
        try:
            for action in plan_parents(view, path, mode=0o755, uid=uid, gid=gid):
                plan.record(action)
        except StepError as exc:
            raise UnitError(str(exc), code=E.ENOTDIR) from None
        plan.record(Action("symlink", path, CREATE, target=target))
        return
    if node.kind != "link":
        raise UnitError(f'file "{path}" already exists', code=E.EEXIST)
    if _same_unit(plan, path, node.target, target):
        plan.record(Action("symlink", path, NONE, target=node.target))
        return
    if not replace:
        raise UnitError(
            f'file "{path}" already exists and is a symlink to "{node.target}"', code=E.EEXIST
        )
    plan.record(Action("symlink", path, UPDATE, target=target, detail=f"was -> {node.target}"))


def _same_unit(plan: Plan, link: str, old: str, new: str) -> bool:
    """Whether two link targets are equivalent for `link` (chroot_unit_symlinks_equivalent).

    The same path, the same file once resolved in the root, or the same
    unit name inside the unit directories.
    """

    def absolute(target: str) -> str:
        return target if target.startswith("/") else f"{posixpath.dirname(link)}/{target}"

    a, b = _lexical(absolute(old)), _lexical(absolute(new))
    if a == b:
        return True
    ra, rb = plan.view.resolve(a), plan.view.resolve(b)
    if ra.exists and rb.exists and ra.rel == rb.rel:
        return True
    return (
        posixpath.basename(a) == posixpath.basename(b)
        and in_search_path(a, below=True)
        and in_search_path(b, below=True)
    )


def _lexical(path: str) -> str:
    """`path` with repeated slashes and `.` removed; `..` is kept, as path_equal does."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


# -- disable ------------------------------------------------------------------


def _remove_links(plan: Plan, marked: set[str]) -> None:
    """Remove each link below /etc/systemd/system that belongs to a marked unit.

    A link belongs to it when its name is a marked name, an instance of a
    marked template, or when it leads (resolved in the root) to a file with a
    marked name. All links are judged on the tree as it was, so a link to an
    alias link goes too (systemctl --root keeps it when it visits it after
    the alias: a readdir-order accident). Emptied directories are removed.
    """
    view = plan.view
    doomed = []
    for path, node in _links_below(plan, CONFIG_DIR):
        base = posixpath.basename(path)
        kind = names.classify(base)
        if kind is None:
            continue
        found = base in marked or (kind == INSTANCE and names.template_of(base) in marked)
        if not found:
            end = view.resolve(path)
            found = end.errno != E.ELOOP and posixpath.basename(end.rel) in marked
        if found:
            doomed.append((path, node.target))
    for path, target in doomed:
        plan.record(Action("remove", path, REMOVE, target=target))
        parent = posixpath.dirname(path)
        while parent.startswith(CONFIG_DIR + "/") and not view.listdir(parent):
            plan.record(Action("directory", parent, REMOVE))
            parent = posixpath.dirname(parent)


def _links_below(plan: Plan, directory: str) -> Iterator[tuple[str, Node]]:
    view = plan.view
    for entry in view.listdir(directory):
        path = f"{directory}/{entry}"
        node = view.lookup(path, follow=False)
        if node is None:
            continue
        if node.kind == "dir":
            yield from _links_below(plan, path)
        elif node.kind == "link":
            yield path, node


# -- names --------------------------------------------------------------------


def _name_or_path(arg: str) -> tuple[str, str | None]:
    """The unit name of an enable argument, and its in-root path when it is a path."""
    arg = arg.strip()
    if "/" not in arg:
        try:
            return names.mangle(arg), None
        except UnitNameError as exc:
            raise StepError(f"cannot enable {arg!r}: {exc}") from None
    if not arg.startswith("/"):
        raise StepError(f"cannot enable {arg!r}: a unit file path must be absolute")
    name = posixpath.basename(arg)
    if not names.is_valid(name):
        raise StepError(f"cannot enable {arg!r}: {name!r} is not a valid unit name")
    return name, arg


def _disable_name(arg: str, notes: list[Note]) -> str:
    arg = arg.strip()
    if "/" in arg:
        name = posixpath.basename(arg)
        notes.append(Note(f"disable works on unit names: {arg} taken as {name}"))
        arg = name
    try:
        return names.mangle(arg)
    except UnitNameError as exc:
        raise StepError(f"cannot disable {arg!r}: {exc}") from None


def _plain_name(arg: str) -> str:
    if "/" in arg:
        raise UnitNameError(f"{arg!r} is a path, not a unit name")
    return names.mangle(arg)
