"""`files`: write files with content, encoding, mode and owner."""

from __future__ import annotations

import base64
import binascii

from executor.actions import Action
from executor.context import RunContext
from executor.errors import StepError
from executor.model import FileSpec
from executor.modules.fsplan import plan_each, plan_file

# yip's spellings: base64 alone, gzip alone, or base64 then gzip.
B64 = {"b64", "base64"}
GZ = {"gz", "gzip"}
GZ_B64 = {"gz+b64", "gz+base64", "gzip+b64", "gzip+base64"}
ENCODINGS = frozenset({"", *B64, *GZ, *GZ_B64})


def decode_content(content: str, encoding: str) -> bytes:
    """The bytes a file spec's content stands for."""
    enc = encoding.strip()
    if enc not in ENCODINGS:
        known = ", ".join(sorted(ENCODINGS - {""}))
        raise StepError(f"unknown encoding {encoding!r} (use one of {known})")
    raw = content.encode("utf-8", errors="surrogateescape")
    try:
        if enc in B64 or enc in GZ_B64:
            raw = base64.b64decode(raw, validate=False)
    except binascii.Error as exc:
        raise StepError(f"content is not valid {enc}: {exc}") from None
    if enc in GZ or enc in GZ_B64:
        import zlib  # only gzip content needs it; a plain run does not pay its import

        try:
            raw = zlib.decompress(raw, wbits=47)  # gzip or zlib header, auto-detected
        except zlib.error as exc:
            raise StepError(f"content is not valid {enc}: {exc}") from None
    return raw


def plan_files(ctx: RunContext, specs: tuple[FileSpec, ...]) -> list[Action]:
    return plan_each(specs, lambda spec: _plan_one(ctx, spec), lambda spec: spec.path)


def _plan_one(ctx: RunContext, spec: FileSpec) -> list[Action]:
    """The actions of one file entry (its owner, content and template resolved)."""
    uid, gid = spec.owner, spec.group
    if spec.owner_string:
        from executor.accounts import owner_string_ids  # reads passwd: only when named

        u, g = owner_string_ids(ctx.root, spec.owner_string)
        uid = u if u >= 0 else uid
        gid = g if g >= 0 else gid
    data = decode_content(spec.content, spec.encoding)
    if b"{{" in data:  # content is templated after decoding, as in yip
        from executor.modules.templating import render_text

        text = render_text(
            ctx,
            data.decode("utf-8", errors="surrogateescape"),
            where=f"{spec.path}: content",  # the engine names the module
        )
        data = text.encode("utf-8", errors="surrogateescape")
    return plan_file(ctx, spec.path, data, mode=spec.permissions, uid=uid, gid=gid)
