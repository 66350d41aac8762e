"""Planning primitives every module that writes files shares.

They compare the root's current state with the desired one and return the
Actions that close the gap: missing parents, the file itself, or nothing.
They only read the Root.
"""

from __future__ import annotations

import errno as E
import os
from collections.abc import Callable, Iterable

from executor.actions import CREATE, NONE, UPDATE, Action
from executor.context import RunContext
from executor.errors import EntryErrors, RootError, StepError
from executor.root import Node, Resolved, Root

TYPE_CHECKING = False  # mypy reads it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import TypeVar

    Entry = TypeVar("Entry")

DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755


def plan_each(
    entries: Iterable[Entry],
    plan_one: Callable[[Entry], list[Action]],
    name: Callable[[Entry], str],
) -> list[Action]:
    """The actions of every entry; an entry that fails does not stop the others.

    yip writes a module's entries one by one and reports the ones that fail;
    here the entries that plan are kept and EntryErrors names the others (the
    step fails, the engine still applies the kept actions).
    """
    actions: list[Action] = []
    errors: list[str] = []
    for entry in entries:
        try:
            actions += plan_one(entry)
        except (StepError, RootError) as exc:
            label = name(entry)
            message = str(exc)
            errors.append(message if message.startswith(label) else f"{label}: {message}")
    if errors:
        raise EntryErrors(errors, actions)
    return actions


def parent_mode(mode: int) -> int:
    """A parent directory's mode: the file's mode with a search bit per read bit."""
    mode &= 0o777
    return mode | ((mode & 0o444) >> 2)


def default_owner() -> tuple[int, int]:
    return os.geteuid(), os.getegid()


def resolve_target(root: Root, path: str) -> tuple[Resolved, Node | None]:
    """Resolve a path a module is about to write: (resolution, what is there now).

    A relative path, a symlink loop or a non-directory parent is a step error;
    missing parents are not (the caller plans them).
    """
    if not path.startswith("/"):
        raise StepError(f"{path}: not an absolute path")
    r = root.resolve(path)
    if r.errno in (E.ELOOP, E.ENOTDIR):
        raise StepError(f"{path}: {os.strerror(r.errno)}")
    return r, (r.node if r.errno == 0 else None)


def plan_parents(root: Root, path: str, *, mode: int, uid: int, gid: int) -> list[Action]:
    """Directory actions for each missing parent of `path`, outermost first.

    Parents the root already lacks are created with `mode` and the owner
    given; existing ones are left as they are.
    """
    r = root.resolve(path)
    if r.errno in (E.ELOOP, E.ENOTDIR):
        raise StepError(f"{path}: {os.strerror(r.errno)}")
    if r.errno == 0:
        return []
    actions: list[Action] = []
    parts = r.rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        sub = "/" + "/".join(parts[:i])
        node = root.lookup(sub, follow=True)
        if node is None:
            actions.append(Action("directory", sub, CREATE, mode=mode, uid=uid, gid=gid))
        elif node.kind != "dir":
            raise StepError(f"{path}: {sub} is not a directory")
    return actions


def plan_file(
    ctx: RunContext,
    path: str,
    data: bytes,
    *,
    mode: int | None,
    uid: int | None,
    gid: int | None,
    kind: str = "file",
    parents: bool = True,
) -> list[Action]:
    """Actions that leave `data` at `path` with the given mode and owner.

    Omitted mode/owner keep an existing file's; a new file gets 0644 and the
    process's owner. Unchanged content is not rewritten. Missing parents are
    created unless `parents` is false, or `path` is a dangling symlink: as in
    yip, writing through a link whose target directory is missing is ENOENT.
    """
    root = ctx.root
    r, node = resolve_target(root, path)
    actions: list[Action] = []
    if node is None:
        if r.errno == E.ENOENT and (not parents or _is_link(root, path)):
            link = f" (a symlink to {r.path})" if _is_link(root, path) else ""
            raise StepError(f"{path}{link}: {os.strerror(E.ENOENT)}: its directory does not exist")
        own_uid, own_gid = default_owner()
        new_mode = DEFAULT_FILE_MODE if mode is None else mode
        new_uid = own_uid if uid is None else uid
        new_gid = own_gid if gid is None else gid
        actions += plan_parents(root, path, mode=parent_mode(new_mode), uid=new_uid, gid=new_gid)
        actions.append(
            Action(
                kind, r.path, CREATE, mode=new_mode, uid=new_uid, gid=new_gid, data=data, old=b""
            )
        )
        return actions
    if node.kind != "file":
        raise StepError(f"{path}: exists and is not a regular file")
    try:
        old = root.read_bytes(r.path)
    except RootError as exc:
        raise StepError(str(exc)) from None
    new_mode = node.mode if mode is None else mode
    new_uid = node.uid if uid is None else uid
    new_gid = node.gid if gid is None else gid
    same_content = old == data
    same_attrs = (node.mode, node.uid, node.gid) == (new_mode, new_uid, new_gid)
    change = NONE if same_content and same_attrs else UPDATE
    return [
        Action(
            kind,
            r.path,
            change,
            mode=new_mode,
            uid=new_uid,
            gid=new_gid,
            data=None if same_content else data,
            old=None if same_content else old,
        )
    ]


def _is_link(root: Root, path: str) -> bool:
    node = root.lookup(path, follow=False)
    return node is not None and node.kind == "link"


def plan_directory(
    ctx: RunContext, path: str, *, mode: int | None, uid: int | None, gid: int | None
) -> list[Action]:
    """Actions that leave a directory at `path` (parents included)."""
    root = ctx.root
    r, node = resolve_target(root, path)
    if node is None:
        own_uid, own_gid = default_owner()
        new_mode = DEFAULT_DIR_MODE if mode is None else mode
        new_uid = own_uid if uid is None else uid
        new_gid = own_gid if gid is None else gid
        actions = plan_parents(root, path, mode=new_mode, uid=new_uid, gid=new_gid)
        actions.append(Action("directory", r.path, CREATE, mode=new_mode, uid=new_uid, gid=new_gid))
        return actions
    if node.kind != "dir":
        raise StepError(f"{path}: exists and is not a directory")
    new_mode = node.mode if mode is None else mode
    new_uid = node.uid if uid is None else uid
    new_gid = node.gid if gid is None else gid
    same = (node.mode, node.uid, node.gid) == (new_mode, new_uid, new_gid)
    return [
        Action(
            "directory", r.path, NONE if same else UPDATE, mode=new_mode, uid=new_uid, gid=new_gid
        )
    ]
