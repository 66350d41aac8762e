"""Users and groups as the ROOT knows them (its /etc/passwd and /etc/group).

Never the host's: an image root has users the build machine lacks.
"""

from __future__ import annotations

from executor.errors import StepError
from executor.root import Root


def _table(root: Root, path: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in root.read_text_or_empty(path).splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if parts[0] and parts[0] not in out:
            out[parts[0]] = parts
    return out


def user_ids(root: Root, name: str) -> tuple[int, int]:
    """(uid, primary gid) of a user name or number, from the root's passwd."""
    if name.isdigit():
        uid = int(name)
        for entry in _table(root, "/etc/passwd").values():
            if len(entry) > 3 and entry[2] == name and entry[3].isdigit():
                return uid, int(entry[3])
        return uid, uid
    fields = _table(root, "/etc/passwd").get(name)
    if fields is None or len(fields) < 4 or not (fields[2].isdigit() and fields[3].isdigit()):
        raise StepError(f"user {name!r} is not in the root's /etc/passwd")
    return int(fields[2]), int(fields[3])


def group_id(root: Root, name: str) -> int:
    """gid of a group name or number, from the root's /etc/group."""
    if name.isdigit():
        return int(name)
    fields = _table(root, "/etc/group").get(name)
    if fields is None or len(fields) < 3 or not fields[2].isdigit():
        raise StepError(f"group {name!r} is not in the root's /etc/group")
    return int(fields[2])


def owner_string_ids(root: Root, owner: str) -> tuple[int, int]:
    """`user` or `user:group` -> (uid, gid); a lone user brings its primary group."""
    user, _, group = owner.partition(":")
    uid, gid = user_ids(root, user.strip()) if user.strip() else (-1, -1)
    if group.strip():
        gid = group_id(root, group.strip())
    return uid, gid
