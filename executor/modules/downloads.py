"""`downloads`: files fetched from http(s) URLs into the root.

Fetched with a timeout (`timeout` seconds, else a default), bounded retries
and TLS verification on (yip's client skips verification), then written
like `files`: atomically, with the given mode and owner (`owner_string`
resolved in the root), unchanged content not rewritten. A `path` that is a
directory (or ends in `/`) receives the file under the URL's last path
component, as yip's downloader does.

A dry-run fetches nothing: it plans the write with a note, since the
content is not known until the URL answers.
"""

from __future__ import annotations

import posixpath
import urllib.parse

from executor import fetch
from executor.accounts import owner_string_ids
from executor.actions import CREATE, UPDATE, Action
from executor.context import RunContext
from executor.errors import StepError
from executor.model import DownloadSpec
from executor.modules.fsplan import plan_file


def target_path(ctx: RunContext, spec: DownloadSpec) -> str:
    node = ctx.root.lookup(spec.path)
    if spec.path.endswith("/") or (node is not None and node.kind == "dir"):
        name = posixpath.basename(urllib.parse.urlsplit(spec.url).path)
        if not name:
            raise StepError(f"{spec.url} names no file to put in {spec.path}")
        return posixpath.join(spec.path, name)
    return spec.path


def plan_downloads(ctx: RunContext, specs: tuple[DownloadSpec, ...]) -> list[Action]:
    actions: list[Action] = []
    for spec in specs:
        if not spec.path.startswith("/"):
            raise StepError(f"{spec.path!r} is not an absolute path")
        if not spec.url.startswith(("https://", "http://")):
            raise StepError(f"{spec.url!r} is not an http(s) URL")
        path = target_path(ctx, spec)
        uid, gid = spec.owner, spec.group
        if spec.owner_string:
            u, g = owner_string_ids(ctx.root, spec.owner_string)
            uid = u if u >= 0 else uid
            gid = g if g >= 0 else gid
        if ctx.dry_run:
            node = ctx.root.lookup(path)
            actions.append(
                Action(
                    "download",
                    ctx.root.resolve(path).path,
                    CREATE if node is None else UPDATE,
                    mode=spec.permissions,
                    uid=uid,
                    gid=gid,
                    detail=f"not fetched in a dry-run: {spec.url}",
                )
            )
            continue
        timeout = float(spec.timeout) if spec.timeout > 0 else fetch.DEFAULT_TIMEOUT
        data = fetch.fetch(spec.url, timeout=timeout)
        actions += plan_file(
            ctx, path, data, mode=spec.permissions, uid=uid, gid=gid, kind="download"
        )
    return actions
