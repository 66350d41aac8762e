"""`authorized_keys` (and users' `ssh_authorized_keys`): keys in ~/.ssh.

The user, home, uid and gid come from the ROOT's /etc/passwd. ~/.ssh is made
0700 and authorized_keys 0600, both owned by the user; keys are appended when
no line of the file already is that key, so a re-run changes nothing.

`github:USER`, `gitlab:USER` and http(s) URLs name remote keys. They are
fetched (with a timeout, TLS verified) only in a real run on the running
system (root `/`): a fake root is an image, and its keys must not depend on
what a web service answers at build time. Elsewhere they are reported as
skipped; a fetch that fails fails the step before anything is written.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from executor import fetch
from executor.accounts import AccountFiles, file_lines
from executor.actions import CREATE, NONE, Action
from executor.context import RunContext
from executor.errors import StepError
from executor.modules.fsplan import plan_directory, plan_file, plan_parents

SSH_DIR_MODE, KEYS_MODE = 0o700, 0o600
FETCH_TIMEOUT = 30.0


def plan_authorized_keys(ctx: RunContext, keys: Mapping[str, tuple[str, ...]]) -> list[Action]:
    accounts = AccountFiles(ctx.root)
    actions: list[Action] = []
    for user, user_keys in keys.items():
        fields = accounts.passwd.get(user)
        if fields is None:
            raise StepError(f"user {user!r} is not in the root's /etc/passwd")
        if not (fields[2].isdigit() and fields[3].isdigit()) or not fields[5].startswith("/"):
            raise StepError(f"bad /etc/passwd entry for {user!r}")
        actions += plan_user_keys(
            ctx, user=user, home=fields[5], uid=int(fields[2]), gid=int(fields[3]), keys=user_keys
        )
    return actions


def plan_user_keys(
    ctx: RunContext,
    *,
    user: str,
    home: str,
    uid: int,
    gid: int,
    keys: tuple[str, ...],
    home_is_new: bool = False,
) -> list[Action]:
    """Actions leaving `keys` in `home`/.ssh/authorized_keys, owned by uid:gid.

    `home_is_new`: the home directory is created by actions planned just
    before these (a new user), so everything below it is new too.
    """
    wanted, notes = resolve_keys(ctx, keys)
    ssh_dir = posixpath.join(home, ".ssh")
    path = posixpath.join(ssh_dir, "authorized_keys")
    root = ctx.root
    actions: list[Action] = []
    dir_node = None if home_is_new else root.lookup(ssh_dir)
    if dir_node is None:
        if not home_is_new:
            actions += plan_parents(root, ssh_dir, mode=SSH_DIR_MODE, uid=uid, gid=gid)
        actions.append(Action("directory", ssh_dir, CREATE, mode=SSH_DIR_MODE, uid=uid, gid=gid))
        data = with_keys("", wanted).encode()
        actions.append(
            Action(
                "authorized_keys",
                path,
                CREATE,
                mode=KEYS_MODE,
                uid=uid,
                gid=gid,
                data=data,
                old=b"",
                detail=f"keys of {user}",
            )
        )
    else:
        actions += plan_directory(ctx, ssh_dir, mode=SSH_DIR_MODE, uid=uid, gid=gid)
        node = root.lookup(path)
        old = root.read_text(path) if node is not None and node.kind == "file" else ""
        actions += plan_file(
            ctx,
            path,
            with_keys(old, wanted).encode(),
            mode=KEYS_MODE,
            uid=uid,
            gid=gid,
            kind="authorized_keys",
        )
    for note in notes:
        # every note says a remote key was not fetched: not done, not kept
        actions.append(Action("authorized_keys", path, NONE, detail=note, skipped=True))
    return actions


def resolve_keys(ctx: RunContext, keys: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The key lines to authorize, and notes about remote keys not fetched."""
    lines: list[str] = []
    notes: list[str] = []
    for key in keys:
        url = fetch.key_url(key)
        if url is None:
            lines += [k.strip() for k in file_lines(key) if k.strip()]
            continue
        if not ctx.root.is_host_root:
            notes.append(f"skipped: {key} is fetched only on the running system (root /)")
            continue
        if ctx.dry_run:
            notes.append(f"not fetched in a dry-run: {key} ({url})")
            continue
        body = fetch.fetch(url, timeout=FETCH_TIMEOUT).decode("utf-8", errors="replace")
        lines += [k.strip() for k in file_lines(body) if k.strip()]
    return lines, notes


def with_keys(text: str, keys: list[str]) -> str:
    """`text` with each of `keys` appended unless a line already is that key."""
    present = {line.strip() for line in file_lines(text)}
    out = text if not text or text.endswith("\n") else text + "\n"
    for key in keys:
        if key not in present:
            out += key + "\n"
            present.add(key)
    return out
