"""`environment` / `environment_file`: KEY=VALUE pairs merged into an env file.

The file (default /etc/environment) keeps every line it has: comments, other
keys and their quoting stay byte for byte. A key being set has its line
replaced in place; new keys are appended, sorted, as yip writes them
(`KEY=123` for a canonical integer, otherwise `KEY="..."`). Values are
templated as yip does.

Quoting is the part of a double-quoted string that both a POSIX shell
(`. /run/cos/cos-layout.env`) and godotenv (immucore, the agent) read back to
the same value: `\\`, `"`, `$` and backquote are escaped. yip also escapes
`!` and writes a newline as `\\n`, which a shell reads back as two
characters; we do not. The file ends up 0644, as yip leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping

from executor.accounts import file_lines
from executor.actions import Action
from executor.context import RunContext
from executor.errors import StepError
from executor.modules.fsplan import plan_file
from executor.modules.templating import render_text
from executor.record import dataclass

DEFAULT_FILE = "/etc/environment"
MODE = 0o644


@dataclass(frozen=True)
class Statement:
    """One assignment in an env file: its key, value and the lines it spans."""

    key: str
    value: str | None  # None: the value uses `$` expansion, so it cannot be compared
    first: int
    last: int


def plan_environment(ctx: RunContext, values: Mapping[str, str], path: str = "") -> list[Action]:
    if not values:
        return []
    path = path or DEFAULT_FILE
    wanted = {
        key: render_text(ctx, value, where=f"environment.{key}") for key, value in values.items()
    }
    for key in wanted:
        if not is_valid_key(key):
            raise StepError(f"{key!r} is not a valid variable name")
    node = ctx.root.lookup(path)
    old = ctx.root.read_text(path) if node is not None and node.kind == "file" else ""
    new = merge_env(old, wanted)
    return plan_file(
        ctx,
        path,
        new.encode("utf-8", errors="surrogateescape"),
        mode=MODE,
        uid=None,
        gid=None,
        kind="env",
    )


def is_valid_key(key: str) -> bool:
    return bool(key) and not key[0].isdigit() and all(c.isalnum() or c == "_" for c in key)


def merge_env(text: str, wanted: Mapping[str, str]) -> str:
    """`text` with each key of `wanted` set, everything else kept as it is."""
    lines = file_lines(text)
    statements = parse_statements(text)
    replace: dict[int, str] = {}
    drop: set[int] = set()
    seen: set[str] = set()
    for st in statements:
        if st.key not in wanted:
            continue
        if st.key in seen:  # a later duplicate would win when sourced: drop it
            drop.update(range(st.first, st.last + 1))
            continue
        seen.add(st.key)
        if st.value == wanted[st.key]:
            continue
        replace[st.first] = format_line(st.key, wanted[st.key])
        drop.update(range(st.first + 1, st.last + 1))
    out = []
    for i, line in enumerate(lines):
        if i in drop:
            continue
        out.append(replace.get(i, line))
    out += sorted(format_line(k, v) for k, v in wanted.items() if k not in seen)
    return "\n".join(out) + "\n" if out else ""


def format_line(key: str, value: str) -> str:
    if value.isascii() and value.isdigit() and str(int(value)) == value:
        return f"{key}={value}"
    escaped = "".join("\\" + c if c in '\\"$`' else c for c in value)
    return f'{key}="{escaped}"'


def parse_env(text: str) -> dict[str, str]:
    """The values of an env file as godotenv reads them (no `$` expansion)."""
    return {st.key: st.value for st in parse_statements(text) if st.value is not None}


def parse_statements(text: str) -> list[Statement]:
    """The assignments of a dotenv/shell env file, with the lines each spans.

    Follows godotenv: `export ` prefix, `KEY=value` or `KEY: value`,
    unquoted values end at whitespace, quoted ones may span lines,
    `# comments` and blank lines are skipped.
    """
    lines = file_lines(text)
    out: list[Statement] = []
    i = 0
    while i < len(lines):
        # only the left side: trailing blanks may sit inside a quoted value
        stripped = lines[i].lstrip()
        if not stripped.strip() or stripped.startswith("#"):
            i += 1
            continue
        body = stripped[len("export") :].lstrip() if stripped.startswith("export ") else stripped
        key, sep, rest = _split_key(body)
        if not sep or not is_valid_key(key):
            i += 1
            continue
        value, last = _value(rest.lstrip(" \t"), lines, i)
        out.append(Statement(key, value, i, last))
        i = last + 1
    return out


def _split_key(body: str) -> tuple[str, str, str]:
    for n, c in enumerate(body):
        if c in "=:":
            return body[:n].strip(), c, body[n + 1 :]
    return body, "", ""


def _value(rest: str, lines: list[str], i: int) -> tuple[str | None, int]:
    """The value starting at `rest` on line `i`, and the last line it spans."""
    if not rest or rest[0] not in "\"'":
        word = rest.split("#", 1)[0].split()[0] if rest.split("#", 1)[0].split() else ""
        return (None if "$" in word else word), i
    quote = rest[0]
    buf = rest[1:]
    last = i
    while True:
        end = _closing(buf, quote)
        if end >= 0:
            raw = buf[:end]
            break
        if last + 1 >= len(lines):
            raise StepError(f"line {i + 1}: unterminated quoted value")
        last += 1
        buf += "\n" + lines[last]
    if quote == "'":
        return raw, last
    if "$" in raw.replace("\\$", ""):
        return None, last
    return _unescape(raw), last


def _closing(buf: str, quote: str) -> int:
    n = 0
    while n < len(buf):
        if buf[n] == "\\" and quote == '"':
            n += 2
            continue
        if buf[n] == quote:
            return n
        n += 1
    return -1


def _unescape(raw: str) -> str:
    out = []
    n = 0
    while n < len(raw):
        c = raw[n]
        if c == "\\" and n + 1 < len(raw):
            nxt = raw[n + 1]
            out.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
            n += 2
            continue
        out.append(c)
        n += 1
    return "".join(out)
