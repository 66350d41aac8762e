"""`ensure_entities` / `delete_entities`: entries of passwd, shadow, group, gshadow.

Each entity is YAML text (templated first, as in yip) in mudler/entities'
format, selected by `kind`:

    kind: user      username password uid gid group info homedir shell
    kind: group     group_name password gid users
    kind: shadow    username password last_changed minimum_changed ... reserved
    kind: gshadow   name password administrators members

`path` names the file in the root (default: the kind's /etc file). Ensuring
replaces the entry of that name or appends it; a group keeps its members,
password and gid unless given. `uid: -1` / `gid: -1` take a free id
(users from 1000 up, groups from 999 down to 500, as mudler/entities does).
A plain shadow password is hashed with SHA-512 crypt; `last_changed: now` is
today, unless the stored password is already that one.

Deleting removes the entry with that name. (mudler/entities removes a user,
shadow or gshadow line only when every field matches, and a missing group
makes it drop the first line of /etc/group; here the name decides.)
"""

from __future__ import annotations

from executor.accounts import (
    AccountFiles,
    Table,
    days_since_epoch,
    free_id,
    hash_password,
)
from executor.actions import Action
from executor.context import RunContext
from executor.errors import StepError
from executor.model import EntitySpec
from executor.modules.templating import render_text

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any

KIND_TABLE = {"user": "passwd", "group": "group", "shadow": "shadow", "gshadow": "gshadow"}
NAME_FIELD = {"user": "username", "group": "group_name", "shadow": "username", "gshadow": "name"}
DYNAMIC_GROUP_RANGE = (500, 999)
DEFAULT_INFO = "Created by entities"


def plan_ensure_entities(ctx: RunContext, specs: tuple[EntitySpec, ...]) -> list[Action]:
    return _plan(ctx, specs, "ensure_entities", ensure=True)


def plan_delete_entities(ctx: RunContext, specs: tuple[EntitySpec, ...]) -> list[Action]:
    return _plan(ctx, specs, "delete_entities", ensure=False)


def _plan(
    ctx: RunContext, specs: tuple[EntitySpec, ...], key: str, *, ensure: bool
) -> list[Action]:
    if not specs:
        return []
    accounts = AccountFiles(ctx.root)
    for i, spec in enumerate(specs):
        where = f"{key}[{i}]"
        kind, data = read_entity(render_text(ctx, spec.entity, where=where), where)
        table = accounts.table(KIND_TABLE[kind], spec.path)
        name = _text(data, NAME_FIELD[kind])
        if not name:
            raise StepError(f"{where}: a {kind} entity needs `{NAME_FIELD[kind]}`")
        if ensure:
            table.put(_ensured(kind, data, name, table, accounts, where))
        else:
            table.remove(name)
    return accounts.plan(ctx, kind="entities")


def read_entity(text: str, where: str) -> tuple[str, dict[str, Any]]:
    import yaml

    from executor.load import parse_value

    try:
        data = parse_value(text)  # bounded: deep or self-multiplying YAML is an error
    except yaml.YAMLError as exc:
        raise StepError(f"{where}: entity is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise StepError(f"{where}: entity must be a mapping with a `kind`")
    kind = data.get("kind")
    if kind not in KIND_TABLE:
        raise StepError(f"{where}: unknown entity kind {kind!r} (user, group, shadow, gshadow)")
    return str(kind), data


def _ensured(
    kind: str, data: dict[str, Any], name: str, table: Table, accounts: AccountFiles, where: str
) -> list[str]:
    current = table.get(name)
    if kind == "user":
        uid = _number(data, "uid", where)
        if uid is None or uid < 0:  # dynamic: an existing user keeps its uid
            existing = _number_or_none(current[2]) if current is not None else None
            uid = existing if existing is not None else free_id(table.ids())
        gid = _number(data, "gid", where)
        group = _text(data, "group")
        if group:
            fields = accounts.group.get(group)
            if fields is None or not fields[2].isdigit():
                raise StepError(f"{where}: group {group!r} is not in the root's /etc/group")
            gid = int(fields[2])
        return _checked(
            [
                name,
                _text(data, "password"),
                str(uid),
                str(gid or 0),
                _text(data, "info") or DEFAULT_INFO,
                _text(data, "homedir"),
                _text(data, "shell"),
            ],
            where,
        )
    if kind == "group":
        gid = _number(data, "gid", where)
        if gid is not None and gid < 0:  # dynamic: an existing group keeps its gid
            existing = _number_or_none(current[2]) if current is not None else None
            gid = existing if existing is not None else _free_group_id(table)
        password = _text(data, "password")
        users = [u for u in _text(data, "users").split(",") if u]
        if current is not None:
            password = password or current[1]
            gid = gid if gid is not None else _number_or_none(current[2])
            users = [u for u in current[3].split(",") if u] + [
                u for u in users if u not in current[3].split(",")
            ]
        if gid is None:
            raise StepError(f"{where}: a new group needs a `gid`")
        return _checked([name, password, str(gid), ",".join(dict.fromkeys(users))], where)
    if kind == "shadow":
        password = hash_password(_text(data, "password"), current[1] if current else "")
        last = _text(data, "last_changed")
        if last == "now":
            keep = current is not None and current[1] == password and current[2]
            last = current[2] if keep and current else str(days_since_epoch())
        return _checked(
            [name, password, last]
            + [
                _text(data, k)
                for k in (
                    "minimum_changed",
                    "maximum_changed",
                    "warn",
                    "inactive",
                    "expire",
                    "reserved",
                )
            ],
            where,
        )
    return _checked(
        [name, _text(data, "password"), _text(data, "administrators"), _text(data, "members")],
        where,
    )


def _free_group_id(table: Table) -> int:
    """The highest free gid from 999 down to 500, as mudler/entities picks one."""
    low, high = DYNAMIC_GROUP_RANGE
    used = table.ids()
    for candidate in range(high, low - 1, -1):
        if candidate not in used:
            return candidate
    raise StepError(f"no free gid between {low} and {high}")


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(data: dict[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise StepError(f"{where}: `{key}` must be a number, got {value!r}")


def _number_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _checked(fields: list[str], where: str) -> list[str]:
    for value in fields:
        if ":" in value or "\n" in value:
            raise StepError(f"{where}: {value!r} cannot be written into a colon-separated file")
    return fields
