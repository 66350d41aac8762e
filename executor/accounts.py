"""Users and groups as the ROOT knows them (its /etc/passwd and /etc/group).

Never the host's: an image root has users the build machine lacks.
"""

from __future__ import annotations

from executor.errors import RootError, StepError
from executor.record import dataclass
from executor.root import Root

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from executor.actions import Action
    from executor.context import RunContext


def file_lines(text: str) -> list[str]:
    """Lines split on "\n" only, as the C library and Go's scanners do.

    str.splitlines() also splits on form feeds, \x1c..\x1e and U+2028, which
    may sit inside a value; a final newline ends the last line.
    """
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _table(root: Root, path: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in file_lines(root.read_text_or_empty(path)):
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


# -- editing the account files of the root -------------------------------------
#
# The users, entities, authorized_keys and systemd_firstboot modules change
# /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow of the ROOT (never the
# host's, never through useradd). They edit an in-memory copy here and turn
# each changed file into one whole-file write Action, so the Root replaces it
# atomically and a dry-run shows the diff.

HUMAN_ID_MIN, HUMAN_ID_MAX = 1000, 60000  # systemd's range for regular users
PASSWD, SHADOW, GROUP, GSHADOW = "/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"
FIELDS = {"passwd": 7, "shadow": 9, "group": 4, "gshadow": 4}
DEFAULT_PATHS = {"passwd": PASSWD, "shadow": SHADOW, "group": GROUP, "gshadow": GSHADOW}
# A new file of a kind gets this mode: the shadow files hold password hashes.
NEW_MODES = {"passwd": 0o644, "shadow": 0o600, "group": 0o644, "gshadow": 0o600}
DAY = 86400


def days_since_epoch() -> int:
    """Today for shadow's last-change field (a function, so tests can fix it)."""
    import time

    return int(time.time()) // DAY


def is_hashed_or_locked(password: str) -> bool:
    """True when a password value must be written as it is, not hashed.

    A crypt hash (`$id$...`), a locked or disabled field (`!...`, `*`) and the
    empty field are kept, as mudler/entities does.
    """
    return password == "" or password == "*" or password.startswith(("$", "!"))


def hash_password(password: str, current: str = "") -> str:
    """The shadow field for `password`: kept when already hashed, else SHA-512 crypt.

    When `current` is a hash of the same plain password it is kept, so a
    re-run does not rewrite /etc/shadow with a new salt on every boot.
    """
    from executor import sha512crypt

    if is_hashed_or_locked(password):
        return password
    if current and sha512crypt.verify(password, current):
        return current
    return sha512crypt.sha512_crypt(password)


@dataclass
class Table:
    """One colon-separated account file, line by line as it is in the root."""

    kind: str
    path: str
    lines: list[str]
    exists: bool
    original: bytes

    @classmethod
    def load(cls, root: Root, kind: str, path: str = "") -> Table:
        path = path or DEFAULT_PATHS[kind]
        node = root.lookup(path)
        if node is None:
            return cls(kind, path, [], False, b"")
        if node.kind != "file":
            raise StepError(f"{path}: not a regular file")
        try:
            data = root.read_bytes(path)
        except RootError as exc:
            raise StepError(str(exc)) from None
        text = data.decode("utf-8", errors="surrogateescape")
        return cls(kind, path, file_lines(text), True, data)

    def _index(self, name: str) -> int | None:
        for i, line in enumerate(self.lines):
            if line and not line.startswith("#") and line.split(":", 1)[0] == name:
                return i
        return None

    def get(self, name: str) -> list[str] | None:
        """The fields of `name`'s entry, padded to the kind's field count."""
        i = self._index(name)
        if i is None:
            return None
        fields = self.lines[i].split(":")
        return fields + [""] * (FIELDS[self.kind] - len(fields))

    def put(self, fields: list[str]) -> None:
        """Replace `fields[0]`'s entry, or append it."""
        line = ":".join(fields)
        i = self._index(fields[0])
        if i is None:
            self.lines.append(line)
        else:
            self.lines[i] = line

    def remove(self, name: str) -> bool:
        i = self._index(name)
        if i is None:
            return False
        del self.lines[i]
        return True

    def entries(self) -> list[list[str]]:
        return [
            line.split(":") for line in self.lines if line and not line.startswith(("#", "+", "-"))
        ]

    def ids(self) -> set[int]:
        """The numeric ids (third field) in use."""
        return {int(f[2]) for f in self.entries() if len(f) > 2 and f[2].isdigit()}

    def render(self) -> bytes:
        text = "\n".join(self.lines) + "\n" if self.lines else ""
        return text.encode("utf-8", errors="surrogateescape")

    @property
    def changed(self) -> bool:
        return self.render() != self.original


class AccountFiles:
    """The account files of one root, edited in memory, written as Actions."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self._tables: dict[tuple[str, str], Table] = {}

    def table(self, kind: str, path: str = "") -> Table:
        key = (kind, self.root.resolve(path or DEFAULT_PATHS[kind]).rel)
        if key not in self._tables:
            self._tables[key] = Table.load(self.root, kind, path)
        return self._tables[key]

    @property
    def passwd(self) -> Table:
        return self.table("passwd")

    @property
    def shadow(self) -> Table:
        return self.table("shadow")

    @property
    def group(self) -> Table:
        return self.table("group")

    @property
    def gshadow(self) -> Table:
        return self.table("gshadow")

    def free_uid(self) -> int:
        return free_id(self.passwd.ids())

    def free_gid(self) -> int:
        return free_id(self.group.ids())

    def add_group_member(self, group: str, user: str) -> bool:
        """Add `user` to `group`'s members (and gshadow's, when the root has it)."""
        fields = self.group.get(group)
        if fields is None:
            return False
        fields[3] = _with_member(fields[3], user)
        self.group.put(fields[:4])
        if self.gshadow.exists:
            shadow = self.gshadow.get(group)
            if shadow is not None:
                shadow[3] = _with_member(shadow[3], user)
                self.gshadow.put(shadow[:4])
        return True

    def set_password(self, user: str, password: str) -> None:
        """Set `user`'s shadow password, keeping the aging fields of the entry.

        The last-change day moves only when the stored value really changes.
        """
        current = self.shadow.get(user)
        if current is None:
            value = hash_password(password)
            self.shadow.put([user, value, str(days_since_epoch()), "", "", "", "", "", ""])
            return
        value = hash_password(password, current[1])
        if value != current[1]:
            current[1] = value
            current[2] = str(days_since_epoch())
            self.shadow.put(current[:9])

    def plan(self, ctx: RunContext, *, kind: str = "users") -> list[Action]:
        """A whole-file write per changed table (a new file gets its kind's mode)."""
        from executor.modules.fsplan import plan_file

        actions: list[Action] = []
        for table in self._tables.values():
            if not table.changed:
                continue
            mode = None if table.exists else NEW_MODES[table.kind]
            actions += plan_file(
                ctx, table.path, table.render(), mode=mode, uid=None, gid=None, kind=kind
            )
        return actions


def free_id(used: set[int], low: int = HUMAN_ID_MIN, high: int = HUMAN_ID_MAX) -> int:
    """The lowest id in [low, high] that is not in `used`."""
    for candidate in range(low, high + 1):
        if candidate not in used:
            return candidate
    raise StepError(f"no free id between {low} and {high}")


def _with_member(members: str, user: str) -> str:
    names = [m for m in members.split(",") if m]
    if user not in names:
        names.append(user)
    return ",".join(names)
