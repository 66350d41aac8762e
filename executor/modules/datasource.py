"""`datasource`: pull the node's user-data from the first provider that answers.

yip's semantics: duplicate providers count once; `cdrom` and `config-drive`
are tried first, one device after the other, the first with user-data wins;
otherwise the HTTP providers are asked. /run/config is made (0755), the
provider's metadata files go there (`hostname`, `ssh/authorized_keys` 0600,
`public_ipv4` ...), and the user-data is written to PATH/userdata (PATH is
`path`, default /run/config) and, when it reads as a cloud-config, also to
PATH/USERDATA_NAME (default `userdata.yaml`). User-data that is no config
but starts with `#!` is written 0744 and run. A hostname or SSH keys file in
/run/config then sets the hostname and root's (the running user's) keys.
When no provider answers with user-data the step fails with "no
metadata/userdata found", as in yip. Unknown names (`maas`, say) are skipped,
as yip skips them, with a log line.

Unlike yip, the HTTP providers are probed at the same time but the winner is
the first of them IN THE GIVEN ORDER that answered (yip takes whichever
finishes first), and only the winner's metadata is written (yip lets every
provider that answered write its files). Everything is written inside the
root. CD-ROMs are read only when the root is the running system. A dry-run
asks no provider: it plans /run/config and says what would be asked.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Mapping

from executor.actions import NONE, RUN, Action
from executor.context import RunContext
from executor.errors import StepError
from executor.log import log
from executor.modules import providers as P
from executor.modules.fsplan import plan_directory, plan_file

CONFIG_PATH = "/run/config"
DEFAULT_USERDATA_NAME = "userdata.yaml"
# Seconds for the whole datasource step: the CD-ROM scan (label scan, reads,
# mounts), then the probes and metadata in the time left. Only unmounting a
# drive that was mounted may go on after it (providers.MOUNT_TIMEOUT).
DEADLINE = 30.0
# Without any answer after this long, the providers still waiting (a DNS
# lookup that hangs, say) are abandoned: no answer costs one probe, not 30 s.
PROBE_WINDOW = P.PROBE_TIMEOUT + 1.0
CDROM_KINDS = ("cdrom", "config-drive")
KNOWN = frozenset(P.HTTP_PROVIDERS) | {"cdrom", "config-drive", "vmware", "file"}


def plan_datasource(ctx: RunContext, modules: Mapping[str, object]) -> list[Action]:
    spec = modules.get("datasource")
    if not isinstance(spec, Mapping):
        return []
    providers = [str(p) for p in spec.get("providers") or []]
    if not providers:
        return []
    providers = list(dict.fromkeys(providers))  # yip drops duplicates, keeps the first
    path = str(spec.get("path") or "")
    userdata_name = str(spec.get("userdata_name") or "") or DEFAULT_USERDATA_NAME
    for name in providers:
        if name not in KNOWN or (name == "file" and not path):
            log.info("datasource: provider %r is not known, skipped (as yip skips it)", name)
    actions = plan_directory(ctx, CONFIG_PATH, mode=0o755, uid=None, gid=None)
    if ctx.dry_run:
        asked = ", ".join(p for p in providers if p in KNOWN)
        actions.append(
            Action(
                "datasource",
                CONFIG_PATH,
                NONE,
                detail=f"not asked in a dry-run: {asked}",
                skipped=True,
            )
        )
        return actions
    found = ask_providers(ctx, providers, path)
    if found is None or found.userdata is None:
        who = f" ({found.provider} answered without user-data)" if found else ""
        raise StepError(f"no metadata/userdata found{who}; asked: {', '.join(providers)}")
    log.info("datasource: user-data from %s", found.provider)
    base = CONFIG_PATH if not path or found.provider == "file" else path
    actions += plan_found(ctx, found, base, userdata_name)
    return actions


def ask_providers(ctx: RunContext, providers: list[str], path: str) -> P.Found | None:
    """The first provider that answers; CD-ROMs first, then the others in order."""
    deadline = time.monotonic() + DEADLINE
    for kind in (p for p in providers if p in CDROM_KINDS):
        if not ctx.root.is_host_root:
            log.info("datasource %s: not read, the root is not the running system", kind)
            continue
        for device in P.cdrom_devices(ctx.runner, kind, deadline):
            data = P.read_cdrom(ctx.runner, kind, device, deadline)
            if data:
                return P.Found(f"{kind}({device})", userdata=data)
    others = [p for p in providers if p not in CDROM_KINDS and p in KNOWN and (p != "file" or path)]
    return first_answer(ctx, others, path, deadline)


def first_answer(ctx: RunContext, names: list[str], path: str, deadline: float) -> P.Found | None:
    """Ask every provider at once (so no answer costs one timeout, not one per
    provider) and keep the first in the given order that answered."""
    import threading

    answers: dict[str, P.Found | None] = {}
    budget = P.Budget(deadline)

    def ask(name: str) -> None:
        try:
            answers[name] = found = ask_one(ctx, name, path, budget)
            if found is not None:
                budget.answered_by.add(name)
        except Exception as exc:  # a provider bug must not kill the step's other providers
            log.warning("datasource %s: %s", name, exc)
            answers[name] = None

    # Each thread is named after its provider: an answer marks the provider
    # as one worth waiting for (providers.Http).
    threads = [threading.Thread(target=ask, args=(n,), name=n, daemon=True) for n in names]
    for thread in threads:
        thread.start()
    probes_end = time.monotonic() + PROBE_WINDOW
    for name, thread in zip(names, threads, strict=True):
        # In the given order: once one has answered, those listed after it
        # need not be waited for; one that has not answered anything within
        # the probe window is not waited for either.
        while thread.is_alive():
            now = time.monotonic()
            if now >= deadline or (now >= probes_end and name not in budget.answered_by):
                break
            thread.join(min(0.05, deadline - now))
        found = answers.get(name)
        if found is not None:
            return found
        log.debug("datasource %s: no answer", name)
    return None


def ask_one(ctx: RunContext, name: str, path: str, budget: P.Budget) -> P.Found | None:
    if name == "vmware":
        return P.vmware(ctx.runner, budget)
    if name == "file":
        node = ctx.root.lookup(path)
        if node is None or node.kind != "file":
            return None
        return P.Found("file", userdata=ctx.root.read_bytes(path))
    return P.HTTP_PROVIDERS[name](budget)


def plan_found(ctx: RunContext, found: P.Found, base: str, userdata_name: str) -> list[Action]:
    actions: list[Action] = []
    for name, data in sorted(found.files.items()):
        where = posixpath.join(CONFIG_PATH, name)
        if name == P.SSH_KEYS:
            actions += plan_directory(ctx, posixpath.dirname(where), mode=0o755, uid=None, gid=None)
        mode = 0o600 if name == P.SSH_KEYS else 0o644
        actions += plan_file(ctx, where, data, mode=mode, uid=None, gid=None)
    assert found.userdata is not None
    userdata = multipart_cloud_config(found.userdata)
    config = is_config(userdata)
    script = not config and userdata.startswith(b"#!")
    target = posixpath.join(base, "userdata")
    actions += plan_file(ctx, target, userdata, mode=0o744 if script else 0o644, uid=None, gid=None)
    if config:
        actions += plan_file(
            ctx, posixpath.join(base, userdata_name), userdata, mode=0o644, uid=None, gid=None
        )
    elif script:
        actions.append(
            Action("command", command=target, change=RUN, detail="the user-data is a script")
        )
    else:
        log.info("datasource: the user-data is neither a config nor a script: kept as is")
    actions += follow_up(ctx, found)
    return actions


def follow_up(ctx: RunContext, found: P.Found) -> list[Action]:
    """The hostname and SSH keys a provider gave, applied as yip does."""
    from executor.modules.authorized_keys import plan_authorized_keys
    from executor.modules.hostname import plan_hostname

    actions: list[Action] = []
    hostname = found.files.get(P.HOSTNAME) or _existing(ctx, P.HOSTNAME)
    if hostname is not None and hostname.strip():
        try:
            actions += plan_hostname(ctx, hostname.decode(errors="replace").strip())
        except StepError as exc:  # the planners' messages leave naming the module to the engine
            raise StepError(f"the provider's hostname: {exc}") from None
    keys = found.files.get(P.SSH_KEYS) or _existing(ctx, P.SSH_KEYS)
    if keys is not None:
        lines = [ln.strip() for ln in keys.decode(errors="replace").splitlines()]
        kept = tuple(ln for ln in lines if ln and not ln.startswith("#"))
        if kept:
            try:
                actions += plan_authorized_keys(ctx, {_running_user(): kept})
            except StepError as exc:
                raise StepError(f"the provider's SSH keys: {exc}") from None
    return actions


def _existing(ctx: RunContext, name: str) -> bytes | None:
    path = posixpath.join(CONFIG_PATH, name)
    node = ctx.root.lookup(path)
    return ctx.root.read_bytes(path) if node is not None and node.kind == "file" else None


def _running_user() -> str:
    import os
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "root" if os.geteuid() == 0 else str(os.geteuid())


def is_config(data: bytes) -> bool:
    """True when yip would load the text as a config (a YAML mapping, or nothing)."""
    import yaml

    try:
        loaded = yaml.safe_load(data)
    except yaml.YAMLError:
        return False
    return loaded is None or isinstance(loaded, dict)


def multipart_cloud_config(data: bytes) -> bytes:
    """The first text/cloud-config part of a MIMEBOUNDARY multipart body (what
    VMware hands out), else `data` unchanged, as yip decodes every user-data."""
    if b"--MIMEBOUNDARY" not in data:
        return data
    import email.parser
    import email.policy

    head = b'Content-Type: multipart/mixed; boundary="MIMEBOUNDARY"\r\n\r\n'
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + data)
    if not message.is_multipart():
        return data
    for part in message.get_payload():
        if isinstance(part, str):
            continue
        if part.get_content_type() == "text/cloud-config":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    return data
