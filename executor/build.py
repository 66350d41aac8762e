"""Converted YAML data -> the frozen model's specs: the loader's model building.

The loader converts each node by its schema type into plain values and
ObjData (a mapping with positions); the functions here make the model's
records of them. The step's table (schema.STEP_MODULES) names, for each
module key, the builder of its Step attribute.
"""

from __future__ import annotations

from collections.abc import Callable

from executor.model import (
    DirectorySpec,
    DnsSpec,
    DownloadSpec,
    EntitySpec,
    FileSpec,
    IfFiles,
    OverrideSpec,
    Position,
    SystemctlSpec,
    UserSpec,
)
from executor.record import dataclass, field

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any


class _Invalid:
    """Marker for a value that failed conversion (its problem is recorded)."""


INVALID: Any = _Invalid()


@dataclass
class ObjData:
    """A converted mapping: its values, where it was, and where each key was."""

    values: dict[str, Any]
    pos: Position
    key_pos: dict[str, Position] = field(default_factory=dict)
    value_pos: dict[str, Position] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key, default)
        return default if value is INVALID else value


def valid_entry(value: Any) -> bool:
    return isinstance(value, ObjData) and all(v is not INVALID for v in value.values.values())


def directory_spec(d: ObjData) -> DirectorySpec:
    return DirectorySpec(
        path=d.get("path"),
        permissions=d.get("permissions"),
        owner=d.get("owner"),
        group=d.get("group"),
        pos=d.pos,
    )


def file_spec(d: ObjData) -> FileSpec:
    return FileSpec(
        path=d.get("path"),
        content=d.get("content", ""),
        encoding=d.get("encoding", ""),
        permissions=d.get("permissions"),
        owner=d.get("owner"),
        group=d.get("group"),
        owner_string=d.get("owner_string", "") or d.get("ownerstring", ""),
        pos=d.pos,
    )


def plain(value: Any) -> Any:
    """Converted data without loader types, for Step.modules."""
    if isinstance(value, ObjData):
        return {k: plain(v) for k, v in value.values.items() if v is not INVALID}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not INVALID}
    if isinstance(value, list):
        return [plain(v) for v in value if v is not INVALID]
    return value


def str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)}


def dns_spec(d: ObjData | None) -> DnsSpec | None:
    if not isinstance(d, ObjData):
        return None
    return DnsSpec(
        nameservers=tuple(d.get("nameservers", [])),
        search=tuple(d.get("search", [])),
        options=tuple(d.get("options", [])),
        path=d.get("path", ""),
        pos=d.pos,
    )


def user_spec(name: str, d: ObjData) -> UserSpec:
    return UserSpec(
        name=name,
        passwd=d.get("passwd", ""),
        lock_passwd=bool(d.get("lock_passwd", False)),
        uid=d.get("uid", "").strip(),
        gid=d.get("gid", "").strip(),
        primary_group=d.get("primary_group", ""),
        groups=tuple(d.get("groups", [])),
        gecos=d.get("gecos", ""),
        homedir=d.get("homedir", ""),
        no_create_home=bool(d.get("no_create_home", False)),
        shell=d.get("shell", ""),
        ssh_authorized_keys=tuple(d.get("ssh_authorized_keys", [])),
        pos=d.pos,
    )


def entity_specs(items: Any) -> tuple[EntitySpec, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(
        EntitySpec(e.get("entity", ""), e.get("path", ""), e.pos) for e in items if valid_entry(e)
    )


def download_spec(d: ObjData) -> DownloadSpec:
    return DownloadSpec(
        url=d.get("url"),
        path=d.get("path"),
        permissions=d.get("permissions"),
        owner=d.get("owner"),
        group=d.get("group"),
        owner_string=d.get("owner_string", "") or d.get("ownerstring", ""),
        timeout=d.get("timeout", 0),
        pos=d.pos,
    )


def systemctl_spec(d: ObjData | None) -> SystemctlSpec:
    if not isinstance(d, ObjData):
        return SystemctlSpec()
    overrides = tuple(
        OverrideSpec(o.get("service"), o.get("name", ""), o.get("content", ""), o.pos)
        for o in d.get("overrides", [])
        if valid_entry(o)
    )
    return SystemctlSpec(
        enable=tuple(d.get("enable", [])),
        disable=tuple(d.get("disable", [])),
        mask=tuple(d.get("mask", [])),
        unmask=tuple(d.get("unmask", [])),
        start=tuple(d.get("start", [])),
        overrides=overrides,
    )


def if_files_spec(d: ObjData | None) -> IfFiles | None:
    if not isinstance(d, ObjData):
        return None
    return IfFiles(tuple(d.get("any", [])), tuple(d.get("all", [])), tuple(d.get("none", [])))


# -- builders of whole Step attributes, named by the step's table ------------------


def each(spec: Callable[[ObjData], object]) -> Callable[[Any], tuple[object, ...]]:
    """A builder of a list of entries; an entry with an invalid value is left out."""

    def build(items: Any) -> tuple[object, ...]:
        return tuple(spec(x) for x in items or [] if valid_entry(x))

    return build


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def texts(items: Any) -> tuple[str, ...]:
    return tuple(x for x in items or [] if isinstance(x, str))


def user_specs(users: Any) -> tuple[UserSpec, ...]:
    """`users` is a mapping by user name, as in yip."""
    return tuple(user_spec(name, u) for name, u in (users or {}).items() if valid_entry(u))


def key_lists(keys: Any) -> dict[str, tuple[str, ...]]:
    """`authorized_keys`: each user's list of keys."""
    return {
        user: tuple(k for k in user_keys if isinstance(k, str))
        for user, user_keys in (keys or {}).items()
        if isinstance(user_keys, list)
    }
