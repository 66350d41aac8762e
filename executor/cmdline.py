"""The kernel command line as a source of configs.

Two kinds of tokens matter, everything else is ignored without noise:

- `cos.setup=URI` and `kairos.config_url=URI` name an extra source (a URL, or
  a path inside the root);
- dot-notation tokens `stages.STAGE[INDEX].KEY=VALUE` (deeper keys and list
  indexes allowed: `stages.boot[0].files[0].path=/etc/x`) together form one
  more config document.

The document is built as YAML *nodes* whose marks point at the token in the
command line (line 1, column of the token), so the loader checks it with the
same type tree as a file and every problem names the column of the token that
caused it.

Differences from yip, on purpose: a stage name may contain dots
(`stages.initramfs.after[0].name=x` is the stage `initramfs.after`; a stage
is always a list, so there is no ambiguity), values are typed as YAML would
type them (`permissions=0644` is a mode, `owner=0` an integer), and a token
that cannot fit (bad key, a key used both as a value and a container) is a
warning naming its column instead of a silent skip.
"""

from __future__ import annotations

from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from executor.errors import Problem
from executor.record import dataclass, field

SOURCE_KEYS = ("cos.setup", "kairos.config_url")
STAGES_PREFIX = "stages"

_TAG = "tag:yaml.org,2002:"
_RESOLVER = Resolver()


@dataclass(frozen=True)
class Token:
    """One word of the command line, quotes removed.

    `offset` and `value_offset` are 0-based columns in the original text, so
    problems can point at the token even when quotes were removed.
    """

    key: str
    value: str
    offset: int
    value_offset: int
    has_value: bool


@dataclass(frozen=True)
class SourceRef:
    """A source named on the command line (`cos.setup=URI`)."""

    key: str
    uri: str
    column: int  # 1-based


@dataclass
class CmdlineConfig:
    """What the command line contributes: named sources and one document."""

    sources: list[SourceRef] = field(default_factory=list)
    document: MappingNode | None = None
    problems: list[Problem] = field(default_factory=list)


# -- tokens ------------------------------------------------------------------


def tokenize(text: str) -> list[Token]:
    """Split like a POSIX shell word splitter: blanks separate, quotes group.

    Double and single quotes are removed; a backslash outside single quotes
    escapes the next character. An unterminated quote runs to the end of the
    line (the kernel is just as lenient). Each output character remembers its
    column so the key/value split can be located in the original text.
    """
    words: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] | None = None
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if not quote and ch in " \t\n\r":
            if current is not None:
                words.append(current)
                current = None
            i += 1
            continue
        if current is None:
            current = []
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                current.append((ch, i))
        elif ch == "\\" and i + 1 < len(text) and (not quote or text[i + 1] in '"\\'):
            current.append((text[i + 1], i + 1))
            i += 1
        elif quote == '"':
            if ch == '"':
                quote = ""
            else:
                current.append((ch, i))
        elif ch in "\"'":
            quote = ch
        else:
            current.append((ch, i))
        i += 1
    if current is not None:
        words.append(current)
    return [_token(word) for word in words if word]


def _token(word: list[tuple[str, int]]) -> Token:
    chars = "".join(c for c, _ in word)
    key, sep, value = chars.partition("=")
    offset = word[0][1]
    if not sep:
        return Token(key, "true", offset, offset, False)
    value_offset = word[len(key) + 1][1] if len(key) + 1 < len(word) else word[-1][1] + 1
    return Token(key, value, offset, value_offset, True)


# -- keys ----------------------------------------------------------------------


class BadKey(ValueError):
    """A dot-notation key that cannot be parsed."""


def parse_key(key: str) -> list[str | int]:
    """`stages.boot[0]."a.b"` -> ["stages", "boot", 0, "a.b"]."""
    parts: list[str | int] = []
    i = 0
    expect_name = True
    while i < len(key):
        ch = key[i]
        if ch == "[":
            end = key.find("]", i)
            digits = key[i + 1 : end] if end > 0 else ""
            if not digits.isdigit():
                raise BadKey(f"expected [INDEX] at character {i + 1}")
            parts.append(int(digits))
            i = end + 1
            expect_name = False
        elif ch == ".":
            if expect_name:
                raise BadKey(f"empty name at character {i + 1}")
            i += 1
            expect_name = True
        elif ch == '"':
            end = key.find('"', i + 1)
            if end < 0:
                raise BadKey(f"unterminated quote at character {i + 1}")
            parts.append(key[i + 1 : end])
            i = end + 1
            expect_name = False
        else:
            j = i
            while j < len(key) and key[j] not in '.["':
                j += 1
            if not expect_name:
                raise BadKey(f"expected `.` or `[` at character {i + 1}")
            parts.append(key[i:j])
            i = j
            expect_name = False
    if expect_name:
        raise BadKey("the key ends with `.`")
    return parts


def stage_path(parts: list[str | int]) -> list[str | int]:
    """Join the names between `stages` and the first index into one stage name.

    A stage is always a list, so `stages.initramfs.after[0]` can only mean
    the stage `initramfs.after`.
    """
    first_index = next((i for i, p in enumerate(parts) if isinstance(p, int)), -1)
    if first_index < 2:
        raise BadKey("no [INDEX] after the stage name")
    names = parts[1:first_index]
    return [parts[0], ".".join(str(n) for n in names), *parts[first_index:]]


# -- the document tree ----------------------------------------------------------


@dataclass
class _Leaf:
    value: str
    column: int


@dataclass
class _Map:
    column: int
    children: dict[str, _Tree] = field(default_factory=dict)


@dataclass
class _List:
    column: int
    items: dict[int, _Tree] = field(default_factory=dict)


_Tree = _Leaf | _Map | _List


class _Conflict(Exception):
    pass


def _insert(tree: _Map, parts: list[str | int], token: Token) -> None:
    """Put the token's value at `parts`, creating maps and lists on the way."""
    node: _Map | _List = tree
    for depth, part in enumerate(parts):
        existing = _child(node, part)
        if depth == len(parts) - 1:
            if existing is not None and not isinstance(existing, _Leaf):
                raise _Conflict
            _set_child(node, part, _Leaf(token.value, token.value_offset))
            return
        want_list = isinstance(parts[depth + 1], int)
        if existing is None:
            existing = _List(token.offset) if want_list else _Map(token.offset)
            _set_child(node, part, existing)
        elif isinstance(existing, _Leaf) or isinstance(existing, _List) != want_list:
            raise _Conflict
        node = existing


def _child(node: _Map | _List, part: str | int) -> _Tree | None:
    if isinstance(node, _Map):
        return node.children.get(str(part))
    return node.items.get(int(part))


def _set_child(node: _Map | _List, part: str | int, child: _Tree) -> None:
    if isinstance(node, _Map):
        node.children[str(part)] = child
    else:
        node.items[int(part)] = child


# -- entry ---------------------------------------------------------------------


def parse_cmdline(text: str, *, source: str) -> CmdlineConfig:
    """Sources and the dot-notation document of one kernel command line.

    `source` names it in problems (sources.CMDLINE_PATH; the caller owns the
    path, so reading a root without a command line never imports this module).
    """
    out = CmdlineConfig()
    tree = _Map(0)
    for token in tokenize(text):
        if token.key in SOURCE_KEYS:
            _add_source(out, token, source)
        elif token.key.startswith(STAGES_PREFIX + ".") or token.key == STAGES_PREFIX:
            _add_stage_token(out, tree, token, source)
    if tree.children:
        out.document = _to_node(tree, source, out.problems, "")  # type: ignore[assignment]
    return out


def _add_source(out: CmdlineConfig, token: Token, source: str) -> None:
    uri = token.value.strip()
    if not token.has_value or not uri:
        out.problems.append(_warning(source, token.offset, "", f"{token.key}= names no source"))
        return
    if any(s.uri == uri for s in out.sources):
        return
    out.sources.append(SourceRef(token.key, uri, token.value_offset + 1))


def _add_stage_token(out: CmdlineConfig, tree: _Map, token: Token, source: str) -> None:
    try:
        parts = stage_path(parse_key(token.key))
    except BadKey as exc:
        message = f"ignored `{token.key}`: {exc} (expected stages.STAGE[INDEX].KEY=VALUE)"
        out.problems.append(_warning(source, token.offset, "", message))
        return
    try:
        _insert(tree, parts, token)
    except _Conflict:
        message = (
            f"ignored `{token.key}`: an earlier token already gave this key"
            " a value of another shape"
        )
        out.problems.append(_warning(source, token.offset, token.key, message))


def _warning(source: str, offset: int, path: str, message: str) -> Problem:
    return Problem("warning", source, 1, offset + 1, path, message)


def _mark(source: str, column: int) -> Mark:
    return Mark(source, column, 0, column, None, 0)


def _to_node(tree: _Tree, source: str, problems: list[Problem], path: str) -> Node:
    if isinstance(tree, _Leaf):
        # the tag YAML would give the same plain text: 0644 an int, true a bool
        tag: str = _RESOLVER.resolve(  # type: ignore[no-untyped-call]
            ScalarNode, tree.value, (True, False)
        )
        mark = _mark(source, tree.column)
        return ScalarNode(tag, tree.value, mark, mark)
    mark = _mark(source, tree.column)
    if isinstance(tree, _Map):
        pairs = []
        for key, child in tree.children.items():
            key_node = ScalarNode(_TAG + "str", key, mark, mark)
            sub = f"{path}.{key}" if path else key
            pairs.append((key_node, _to_node(child, source, problems, sub)))
        return MappingNode(_TAG + "map", pairs, mark, mark)
    indexes = sorted(tree.items)
    if indexes != list(range(len(indexes))):
        missing = next(i for i in range(len(indexes) + 1) if i not in tree.items)
        problems.append(
            _warning(
                source,
                tree.column,
                path,
                f"{path}[{missing}] is not given; the items are taken in index order",
            )
        )
    items = [_to_node(tree.items[i], source, problems, f"{path}[{i}]") for i in indexes]
    return SequenceNode(_TAG + "seq", items, mark, mark)
