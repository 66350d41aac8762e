"""`systemd_firstboot`: the files `systemd-firstboot --root=ROOT` writes, natively.

yip runs `systemd-firstboot --KEY=VALUE ...` (`--KEY` for "true"). Doing it
natively needs no process and no binary matching the root, works in a
dry-run with diffs, and stays inside the root. Like systemd-firstboot, each
setting is written only when its file does not exist yet, unless `force` is
true; keys are case-insensitive and `_` may stand for `-`.

    locale, locale-messages  /etc/locale.conf (/etc/default/locale on Debian-family roots)
    keymap                   /etc/vconsole.conf
    timezone                 /etc/localtime -> ../usr/share/zoneinfo/ZONE
    hostname                 /etc/hostname
    machine-id, setup-machine-id   /etc/machine-id
    kernel-command-line      /etc/kernel/cmdline
    root-password, root-password-hashed, delete-root-password, root-shell
                             root's entries in /etc/passwd and /etc/shadow (written
                             only when either file is missing, or with force)
    force, welcome           flags

The interactive and host-copying options (prompt*, copy*, root-password-file,
image) make no sense at boot and are errors. Plain root passwords are hashed
with SHA-512 crypt (systemd-firstboot picks libcrypt's preferred method).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from executor.accounts import AccountFiles, days_since_epoch, hash_password
from executor.actions import CREATE, UPDATE, Action
from executor.context import RunContext
from executor.errors import StepError
from executor.modules.fsplan import plan_file, plan_parents
from executor.modules.hostname import check_hostname
from executor.osinfo import root_os_release

VALUE_OPTIONS = frozenset(
    {
        "locale",
        "locale-messages",
        "keymap",
        "timezone",
        "hostname",
        "machine-id",
        "root-password",
        "root-password-hashed",
        "root-shell",
        "kernel-command-line",
        "welcome",
    }
)
FLAG_OPTIONS = frozenset({"force", "setup-machine-id", "delete-root-password"})
ZONEINFO = "/usr/share/zoneinfo"
DEFAULT_ROOT = ["root", "x", "0", "0", "Super User", "/root", "/bin/sh"]


def normalize(settings: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in settings.items():
        name = key.strip().lower().replace("_", "-")
        if name in FLAG_OPTIONS:
            if value.strip().lower() != "true":
                raise StepError(f"{key} is a flag; set it to true")
        elif name not in VALUE_OPTIONS:
            raise StepError(
                f"option {key!r} is not supported (prompts, host"
                f" copies and images have no meaning at boot)"
            )
        elif value == "true":
            raise StepError(f"{key} needs a value")
        out[name] = value
    return out


def plan_firstboot(ctx: RunContext, settings: Mapping[str, str]) -> list[Action]:
    if not settings:
        return []
    opts = normalize(settings)
    force = "force" in opts
    actions: list[Action] = []

    def write(path: str, text: str) -> None:
        if force or ctx.root.lookup(path, follow=False) is None:
            actions.extend(
                plan_file(
                    ctx, path, text.encode(), mode=0o644, uid=None, gid=None, kind="firstboot"
                )
            )

    if "locale" in opts or "locale-messages" in opts:
        messages = opts.get("locale-messages", "")
        write(locale_path(ctx), locale_conf(opts.get("locale", ""), messages))
    if "keymap" in opts:
        _check_word(opts["keymap"], "keymap")
        write("/etc/vconsole.conf", f"KEYMAP={opts['keymap']}\n")
    if "timezone" in opts:
        actions += _timezone(ctx, opts["timezone"], force=force)
    if "hostname" in opts:
        check_hostname(opts["hostname"])
        write("/etc/hostname", opts["hostname"] + "\n")
    if "machine-id" in opts or "setup-machine-id" in opts:
        mid = opts.get("machine-id") or uuid.uuid4().hex
        write("/etc/machine-id", _machine_id(mid) + "\n")
    if "kernel-command-line" in opts:
        write("/etc/kernel/cmdline", opts["kernel-command-line"] + "\n")
    if {"root-password", "root-password-hashed", "delete-root-password", "root-shell"} & set(opts):
        actions += _root_account(ctx, opts, force=force)
    return actions


def locale_path(ctx: RunContext) -> str:
    """Debian builds systemd to read /etc/default/locale instead of /etc/locale.conf."""
    info = root_os_release(ctx.root)
    family = {info.get("ID", ""), *info.get("ID_LIKE", "").split()}
    return "/etc/default/locale" if family & {"debian", "ubuntu"} else "/etc/locale.conf"


def locale_conf(lang: str, messages: str) -> str:
    for value, what in ((lang, "locale"), (messages, "locale-messages")):
        if value:
            _check_word(value, what)
    text = f"LANG={lang}\n" if lang else ""
    if messages and messages != lang:
        text += f"LC_MESSAGES={messages}\n"
    return text


def _timezone(ctx: RunContext, zone: str, *, force: bool) -> list[Action]:
    if (
        not zone
        or zone.startswith("/")
        or ".." in zone.split("/")
        or any(c.isspace() for c in zone)
    ):
        raise StepError(f"timezone {zone!r} is not valid")
    root = ctx.root
    data = root.lookup(f"{ZONEINFO}/{zone}")
    if data is None or data.kind != "file":
        raise StepError(f"timezone {zone!r} is not in the root's {ZONEINFO}")
    current = root.lookup("/etc/localtime", follow=False)
    target = f"..{ZONEINFO}/{zone}"
    if current is not None and (not force or (current.kind == "link" and current.target == target)):
        return []
    if current is not None and current.kind == "dir":
        raise StepError("/etc/localtime is a directory")
    actions = plan_parents(root, "/etc/localtime", mode=0o755, uid=0, gid=0)
    actions.append(
        Action("symlink", "/etc/localtime", CREATE if current is None else UPDATE, target=target)
    )
    return actions


def _root_account(ctx: RunContext, opts: dict[str, str], *, force: bool) -> list[Action]:
    accounts = AccountFiles(ctx.root)
    if accounts.passwd.exists and accounts.shadow.exists and not force:
        return []  # systemd-firstboot: the root account is already set up
    entry = accounts.passwd.get("root") or list(DEFAULT_ROOT)
    if "root-shell" in opts:
        shell = opts["root-shell"]
        if not shell.startswith("/") or ctx.root.lookup(shell) is None:
            raise StepError(f"root-shell {shell} is not in the root")
        entry[6] = shell
    if "root-password-hashed" in opts:
        password = opts["root-password-hashed"]
    elif "root-password" in opts:
        current = accounts.shadow.get("root")
        password = hash_password(opts["root-password"], current[1] if current else "")
    elif "delete-root-password" in opts:
        password = ""
    else:
        password = "!*"  # no password: locked, as systemd-firstboot leaves it
    entry[1] = "x" if password != "!*" else "!*"
    accounts.passwd.put(entry[:7])
    shadow = accounts.shadow.get("root") or ["root", "", "", "", "", "", "", "", ""]
    if shadow[1] != password:
        shadow[1] = password
        shadow[2] = str(days_since_epoch())
    accounts.shadow.put(shadow[:9])
    return accounts.plan(ctx, kind="firstboot")


def _machine_id(text: str) -> str:
    value = text.strip().replace("-", "").lower()
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value) or set(value) == {"0"}:
        raise StepError(f"machine-id {text!r} is not a valid machine id")
    return value


def _check_word(value: str, what: str) -> None:
    if not value or any(c.isspace() or c in "\"'\\$`" for c in value):
        raise StepError(f"{what} {value!r} is not valid")
