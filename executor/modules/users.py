"""`users`: accounts in the ROOT's /etc/passwd, shadow, group (and gshadow).

Semantics of current yip, with every lookup done in the root instead of the
host (yip asks the host's os/user for "does the user exist" and for
primary_group, which is wrong for an image or an initramfs chroot):

- users are handled in name order, those whose ids are already fixed (an
  explicit uid, an existing entry, an existing home directory) first, so a
  new user cannot take the id of an existing home;
- an existing user only gets its password set (when `passwd` is given) and
  its keys; nothing else about it changes;
- a new user gets a group of its own name (gid: `gid`, else the owner of an
  existing home, else the lowest free id from 1000), or `primary_group`;
  uid: `uid`, else the owner of an existing home, else the lowest free id
  from 1000; home (default HOME/NAME from /etc/default/useradd, else
  /home/NAME) created 0755 and owned by the user; shell from `shell`, the
  useradd defaults, or /bin/sh; it joins each of `groups` that exists.

Differences from yip, on purpose: a group named after the user that already
exists keeps its gid (yip rewrites it); a new user without `passwd` gets `*`
(no password, keys still work) where yip leaves the field empty, which lets
anyone log in without a password; a plain `passwd` equal to the stored hash
is not re-hashed, so a re-run leaves /etc/shadow alone.
"""

from __future__ import annotations

from executor.accounts import AccountFiles
from executor.actions import CREATE, NONE, UPDATE, Action
from executor.context import RunContext
from executor.errors import StepError
from executor.model import UserSpec
from executor.modules.authorized_keys import plan_user_keys
from executor.modules.environment import parse_env
from executor.modules.fsplan import default_owner, plan_parents
from executor.record import dataclass

USERADD_DEFAULTS = "/etc/default/useradd"
HOME_MODE = 0o755
DEFAULT_GECOS = "Created by entities"  # what yip (mudler/entities) writes when none is given


@dataclass
class _Home:
    user: str
    path: str
    uid: int
    gid: int
    create: bool  # make the directory (a new user without no_create_home)


def plan_users(ctx: RunContext, users: tuple[UserSpec, ...]) -> list[Action]:
    if not users:
        return []
    accounts = AccountFiles(ctx.root)
    defaults = parse_env(ctx.root.read_text_or_empty(USERADD_DEFAULTS))
    home_base = defaults.get("HOME") or "/home"
    shell_default = defaults.get("SHELL") or "/bin/sh"
    homes: list[_Home] = []
    keys: list[tuple[UserSpec, _Home | None]] = []
    notes: list[Action] = []
    for user in _ordered(ctx, accounts, users, home_base):
        _check_name(user.name)
        if accounts.passwd.get(user.name) is not None:
            if user.passwd:
                accounts.set_password(user.name, user.passwd)
            keys.append((user, None))
            continue
        home, missing_groups = _create(ctx, accounts, user, home_base, shell_default)
        homes.append(home)
        keys.append((user, home))
        if missing_groups:
            notes.append(
                Action(
                    "users",
                    "/etc/group",
                    NONE,
                    detail=f"{user.name}: groups not in the root's /etc/group:"
                    f" {', '.join(missing_groups)}",
                    skipped=True,  # the user is made, but does not join them
                )
            )
    actions = accounts.plan(ctx, kind="users") + notes
    created: set[str] = set()
    for home in homes:
        home_actions = _plan_home(ctx, home)
        if home_actions and home_actions[-1].change == CREATE:
            created.add(home.user)
        actions += home_actions
    for user, known in keys:
        if not user.ssh_authorized_keys:
            continue
        home = known or _existing_home(accounts, user.name)
        actions += plan_user_keys(
            ctx,
            user=user.name,
            home=home.path,
            uid=home.uid,
            gid=home.gid,
            keys=user.ssh_authorized_keys,
            home_is_new=user.name in created,
        )
    return actions


def _existing_home(accounts: AccountFiles, name: str) -> _Home:
    fields = accounts.passwd.get(name)
    if fields is None or not fields[5].startswith("/"):
        raise StepError(f"users.{name}: no home directory in the root's /etc/passwd")
    return _Home(name, fields[5], _int(fields[2]), _int(fields[3]), create=False)


def _ordered(
    ctx: RunContext, accounts: AccountFiles, users: tuple[UserSpec, ...], home_base: str
) -> list[UserSpec]:
    """Name order, users whose ids are already fixed first (kairos-io/kairos#2949)."""

    def fixed(user: UserSpec) -> bool:
        if user.uid or accounts.passwd.get(user.name) is not None:
            return True
        node = ctx.root.lookup(user.homedir or f"{home_base}/{user.name}")
        return node is not None and node.kind == "dir"

    by_name = sorted(users, key=lambda u: u.name)
    return [u for u in by_name if fixed(u)] + [u for u in by_name if not fixed(u)]


def _create(
    ctx: RunContext, accounts: AccountFiles, user: UserSpec, home_base: str, shell_default: str
) -> tuple[_Home, list[str]]:
    name = user.name
    home = user.homedir or f"{home_base}/{name}"
    if not home.startswith("/"):
        raise StepError(f"users.{name}: homedir {home!r} is not an absolute path")
    home_node = ctx.root.lookup(home)
    home_ids = (home_node.uid, home_node.gid) if home_node and home_node.kind == "dir" else None

    group = name
    if user.primary_group:
        fields = accounts.group.get(user.primary_group)
        if fields is None or not fields[2].isdigit():
            raise StepError(
                f"users.{name}: primary_group {user.primary_group!r} is not in"
                f" the root's /etc/group"
            )
        group, gid = user.primary_group, int(fields[2])
    elif user.gid:
        gid = _id(user.gid, f"users.{name}.gid")
    elif (own := accounts.group.get(name)) is not None and own[2].isdigit():
        gid = int(own[2])
    elif home_ids is not None and home_ids[1] not in accounts.group.ids():
        gid = home_ids[1]
    else:
        gid = accounts.free_gid()
    _ensure_group(accounts, group, gid, member=name, set_gid=bool(user.gid))

    if user.uid:
        uid = _id(user.uid, f"users.{name}.uid")
    elif home_ids is not None:
        uid = home_ids[0]
    else:
        uid = accounts.free_uid()

    shell = user.shell or shell_default
    gecos = user.gecos or DEFAULT_GECOS
    accounts.passwd.put([name, "x", str(uid), str(gid), gecos, home, shell])
    password = "!" if user.lock_passwd else (user.passwd or "*")
    accounts.set_password(name, password)
    missing = [g for g in user.groups if not accounts.add_group_member(g, name)]
    return _Home(name, home, uid, gid, create=not user.no_create_home), missing


def _ensure_group(
    accounts: AccountFiles, group: str, gid: int, *, member: str, set_gid: bool
) -> None:
    fields = accounts.group.get(group)
    if fields is None:
        accounts.group.put([group, "x", str(gid), member])
        if accounts.gshadow.exists and accounts.gshadow.get(group) is None:
            accounts.gshadow.put([group, "!", "", member])
        return
    if set_gid:
        fields[2] = str(gid)
        accounts.group.put(fields[:4])
    accounts.add_group_member(group, member)


def _plan_home(ctx: RunContext, home: _Home) -> list[Action]:
    if not home.create:
        return []
    root = ctx.root
    node = root.lookup(home.path)
    if node is None:
        owner = default_owner()
        actions = plan_parents(root, home.path, mode=HOME_MODE, uid=owner[0], gid=owner[1])
        actions.append(
            Action(
                "directory",
                root.resolve(home.path).path,
                CREATE,
                mode=HOME_MODE,
                uid=home.uid,
                gid=home.gid,
                detail=f"home of {home.user}",
            )
        )
        return actions
    if node.kind != "dir":
        raise StepError(f"users.{home.user}: home {home.path} exists and is not a directory")
    same = (node.uid, node.gid) == (home.uid, home.gid)
    return [
        Action(
            "directory",
            root.resolve(home.path).path,
            NONE if same else UPDATE,
            mode=node.mode,
            uid=home.uid,
            gid=home.gid,
            detail=f"home of {home.user}",
        )
    ]


def _check_name(name: str) -> None:
    if (
        not name
        or name.startswith("-")
        or any(c in name for c in ":,\n/ \t")
        or name in (".", "..")
    ):
        raise StepError(f"{name!r} is not a valid user name")


def _id(text: str, where: str) -> int:
    if not text.isdigit():
        raise StepError(f"{where}: {text!r} is not a number")
    return int(text)


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0
