"""YAML nodes -> converted values, by walking the type tree of `schema`.

Each node is converted by the type the schema gives it, so every type error,
and every finding of `validate` about a value, names the exact node
(FILE:LINE:COLUMN and its config path). Mappings become build.ObjData (their
values with positions) for the loader to build the model of. The work is
bounded: the nodes visited with aliases and merge keys expanded, and the
nesting (see compose).
"""

from __future__ import annotations

from collections.abc import Callable

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from executor import schema as S
from executor import validate
from executor.build import INVALID, ObjData
from executor.compose import MAX_DEPTH, MAX_NODES, LimitExceeded
from executor.errors import Problem
from executor.lazyre import lazy_compile
from executor.model import Position

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any

_TAG = "tag:yaml.org,2002:"
_SCALARS = yaml.constructor.SafeConstructor()


class TooLarge(Exception):
    """The document expands (aliases, merge keys) to more than MAX_NODES nodes."""


class Converter:
    """Converts the nodes of one document, collecting its problems."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.visited = 0
        self.text = ""  # the document, when the caller has it (not the kernel command line)
        self._lines: list[str] | None = None
        self.depth = 0

    @property
    def lines(self) -> list[str]:
        """The document's lines, to place findings inside values.

        Split once, when a finding or a YAML error needs them: a valid
        document, a boot's usual case, never pays for it.
        """
        if self._lines is None:
            self._lines = YAML_LINE_BREAK.split(self.text) if self.text else []
        return self._lines

    def pos(self, node: Node, path: str = "") -> Position:
        mark = node.start_mark
        return Position(self.source, mark.line + 1, mark.column + 1, path)

    def error(self, node: Node | None, path: str, message: str) -> None:
        self._add("error", node, path, message)

    def warning(self, node: Node | None, path: str, message: str) -> None:
        self._add("warning", node, path, message)

    def _add(self, severity: str, node: Node | None, path: str, message: str) -> None:
        line = column = 0
        if node is not None:
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
        self.problems.append(Problem(severity, self.source, line, column, path, message))

    def findings(self, node: Node, path: str, found: list[validate.Finding]) -> None:
        """Record what `validate` found in the value of `node`."""
        for f in found:
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
            if f.offset >= 0 and isinstance(node, ScalarNode):
                line, column = _place(node, f.offset, self.lines) or (line, column)
            self.problems.append(Problem(f.severity, self.source, line, column, path, f.message))

    def convert(self, node: Node, t: S.Type, path: str) -> Any:
        self.tick(node)
        handler = _HANDLERS.get(type(t))
        if handler is None:  # pragma: no cover - every Type has a handler
            raise TypeError(f"no converter for {t!r}")
        self.depth += 1
        try:
            return handler(self, node, t, path)
        finally:
            self.depth -= 1

    def tick(self, node: Node) -> None:
        """Count one unit of work; refuse documents that expand without bound.

        Aliases make the node graph a DAG (or, with an anchor used inside
        itself, a cycle), so the work done walking it is bounded here, not
        by the size of the text.
        """
        self.visited += 1
        if self.visited > MAX_NODES:
            raise TooLarge
        if self.depth > MAX_DEPTH:
            raise LimitExceeded(
                f"nesting deeper than {MAX_DEPTH} levels (aliases expanded)", node.start_mark
            )

    def conv_str(self, node: Node, t: S.Type, path: str) -> Any:
        condition = isinstance(t, S.Str) and t.check == S.CONDITION
        if isinstance(node, ScalarNode):
            if node.tag == _TAG + "binary":
                self.error(node, path, "expected a string, got binary data")
                return INVALID
            value = "" if is_null(node) else str(node.value)
            if condition and node.tag in (_TAG + "int", _TAG + "float"):
                self.warning(
                    node,
                    path,
                    f"`if: {value}` is a number, run as the command"
                    f" `{value}`, which does not exist: the step never runs; write"
                    " true, false or a quoted shell condition",
                )
            if isinstance(t, S.Str) and t.check:
                self.findings(node, path, validate.check_value(t.check, value))
            return value
        hint = ""
        if condition and isinstance(node, SequenceNode):
            # `if: [ -e /x ]` is a YAML flow list, not the shell's `[`
            written = self.source_text(node) or "[ ... ]"
            hint = f"; unquoted, `{written}` is a YAML list: quote it, if: '{written}'"
        self.error(node, path, f"expected a string, got {_describe(node)}{hint}")
        return INVALID

    def source_text(self, node: Node) -> str:
        """The text of `node` as written, when it is on one line; else ''."""
        start, end = node.start_mark, node.end_mark
        if start.line != end.line or start.line >= len(self.lines):
            return ""
        return self.lines[start.line][start.column : end.column]

    def conv_int(self, node: Node, t: S.Type, path: str) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "int":
            return _SCALARS.construct_yaml_int(node)
        hint = ""
        key = path.rsplit(".", 1)[-1]
        if isinstance(node, ScalarNode) and key in ("owner", "group") and ".files[" in path:
            # owner/group are numeric ids, as in yip; names go in owner_string
            example = node.value if key == "owner" else f"USER:{node.value}"
            hint = (
                f"; for a name use owner_string: {example} (resolved in the root's"
                " /etc/passwd and /etc/group)"
            )
        self.error(node, path, f"expected an integer, got {_describe(node)}{hint}")
        return INVALID

    def conv_bool(self, node: Node, t: S.Type, path: str) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "bool":
            return _SCALARS.construct_yaml_bool(node)
        self.error(node, path, f"expected true or false, got {_describe(node)}")
        return INVALID

    def conv_mode(self, node: Node, t: S.Type, path: str) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "int":
            value: int = _SCALARS.construct_yaml_int(node)
            if not 0 <= value <= 0o7777:
                self.error(node, path, f"mode {node.value} is out of range (0 to 07777)")
                return INVALID
            text = node.value.replace("_", "")
            if len(text) >= 3 and text[0] != "0" and all(c in "01234567" for c in text):
                # yip converts the number to a Go FileMode, which keeps only its
                # permission bits (644 = 0o1204 -> 0204); the same mode is applied
                # here, so an image is the same whichever executor made it.
                applied = value & 0o777
                self.warning(
                    node,
                    path,
                    f"mode {text} is a decimal number, so mode {applied:04o} will be applied"
                    f" (its permission bits, as yip applies them); write 0{text} for octal",
                )
                return applied
            return value
        if isinstance(node, ScalarNode) and node.tag == _TAG + "str":
            parsed = parse_mode_string(node.value)
            if parsed is None:
                self.error(node, path, f"invalid mode {node.value!r}: expected octal like 0644")
                return INVALID
            return parsed
        self.error(node, path, f"expected a file mode such as 0644, got {_describe(node)}")
        return INVALID

    def conv_any(self, node: Node, t: S.Type, path: str) -> Any:
        return self.plain(node)

    def conv_list(self, node: Node, t: S.Type, path: str) -> Any:
        assert isinstance(t, S.ListOf)
        if isinstance(node, ScalarNode) and is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.error(node, path, f"expected a list, got {_describe(node)}")
            return INVALID
        return [self.convert(item, t.item, f"{path}[{i}]") for i, item in enumerate(node.value)]

    def conv_map(self, node: Node, t: S.Type, path: str) -> Any:
        assert isinstance(t, S.MapOf)
        pairs = self.pairs(node, path)
        if pairs is None:
            return INVALID
        out: dict[str, Any] = {}
        for key, key_node, value_node in pairs:
            if t.key_check:
                self.findings(key_node, _join(path, key), validate.check_value(t.key_check, key))
            out[key] = self.convert(value_node, t.value, _join(path, key))
        return out

    def conv_obj(self, node: Node, t: S.Type, path: str) -> Any:
        assert isinstance(t, S.Obj)
        pairs = self.pairs(node, path)
        if pairs is None:
            return INVALID
        data = ObjData({}, self.pos(node, path))
        value_nodes: dict[str, Node] = {}
        for key, key_node, value_node in pairs:
            fld = t.fields.get(key)
            sub = _join(path, key)
            if fld is None:
                self.unknown_key(key, key_node, t, sub)
                continue
            data.values[key] = self.convert(value_node, fld.type, sub)
            data.key_pos[key] = self.pos(key_node, sub)
            data.value_pos[key] = self.pos(value_node, sub)
            value_nodes[key] = value_node
        for key in t.required:
            if key not in data.values:
                self.error(node, _join(path, key), f"missing required key `{key}` in {t.name}")
                data.values[key] = INVALID
        if t.check:
            valid = {k: v for k, v in data.values.items() if v is not INVALID}
            for f in validate.check_object(t.check, valid):
                self.findings(value_nodes.get(f.key, node), _join(path, f.key), [f])
        return data

    def unknown_key(self, key: str, key_node: Node, t: S.Obj, path: str) -> None:
        import difflib  # only when there is something to suggest

        close = difflib.get_close_matches(key, list(t.fields), n=1, cutoff=0.7)
        if t.open and not close:
            return
        hint = f"; did you mean `{close[0]}`?" if close else ""
        self.warning(key_node, path, f"unknown key `{key}` in {t.name}{hint}")

    def pairs(self, node: Node, path: str) -> list[tuple[str, Node, Node]] | None:
        """Key/value pairs of a mapping node, merge keys applied, duplicates refused."""
        if isinstance(node, ScalarNode) and is_null(node):
            return []
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping, got {_describe(node)}")
            return None
        out: list[tuple[str, Node, Node]] = []
        seen: dict[str, Node] = {}
        merged: list[tuple[str, Node, Node]] = []
        for key_node, value_node in node.value:
            self.tick(key_node)
            if key_node.tag == _TAG + "merge":
                merged.extend(self._merge_pairs(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, path, "mapping keys must be plain strings")
                continue
            key = str(key_node.value)
            if key in seen:
                line = seen[key].start_mark.line + 1
                where = _join(path, key)
                self.error(key_node, where, f"duplicate key `{key}` (first at line {line})")
                continue
            seen[key] = key_node
            out.append((key, key_node, value_node))
        for key, key_node, value_node in merged:
            if key not in seen:
                seen[key] = key_node
                out.append((key, key_node, value_node))
        return out

    def _merge_pairs(self, node: Node, path: str) -> list[tuple[str, Node, Node]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: list[tuple[str, Node, Node]] = []
        self.depth += 1
        try:
            for src in sources:
                self.tick(src)
                out.extend(self.pairs(src, path) or [])
        finally:
            self.depth -= 1
        return out

    def plain(self, node: Node) -> Any:
        """A plain Python value of a node, for keys a module checks itself."""
        self.tick(node)
        if isinstance(node, ScalarNode):
            return _scalar_value(node)
        self.depth += 1
        try:
            if isinstance(node, SequenceNode):
                return [self.plain(item) for item in node.value]
            pairs = self.pairs(node, "") or []
            return {key: self.plain(value) for key, _, value in pairs}
        finally:
            self.depth -= 1


_HANDLERS: dict[type, Callable[[Converter, Node, S.Type, str], Any]] = {
    S.Str: Converter.conv_str,
    S.Int: Converter.conv_int,
    S.Bool: Converter.conv_bool,
    S.Mode: Converter.conv_mode,
    S.AnyValue: Converter.conv_any,
    S.ListOf: Converter.conv_list,
    S.MapOf: Converter.conv_map,
    S.Obj: Converter.conv_obj,
}


def parse_mode_string(text: str) -> int | None:
    """Octal mode from "0644", "644" or "0o644"; None when it is not one."""
    digits = text.strip()
    if digits[:2] in ("0o", "0O"):
        digits = digits[2:]
    if not digits or len(digits) > 5 or any(c not in "01234567" for c in digits):
        return None
    value = int(digits, 8)
    return value if value <= 0o7777 else None


def _scalar_value(node: ScalarNode) -> Any:
    tag = node.tag
    if tag == _TAG + "int":
        return _SCALARS.construct_yaml_int(node)
    if tag == _TAG + "bool":
        return _SCALARS.construct_yaml_bool(node)
    if tag == _TAG + "float":
        return _SCALARS.construct_yaml_float(node)
    if tag == _TAG + "null":
        return None
    return node.value


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    kind = node.tag.rsplit(":", 1)[-1]
    names = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean"}
    return f"{names.get(kind, kind)} {node.value!r}" if kind != "null" else "nothing (null)"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# YAML's line breaks (str.splitlines knows more, and would shift the lines).
YAML_LINE_BREAK = lazy_compile("\r\n|[\r\n\x85\u2028\u2029]")


def _place(node: ScalarNode, offset: int, lines: list[str]) -> tuple[int, int] | None:
    """File line and column of character `offset` of a scalar's value.

    Exact for a literal block (`|`) and for a one-line plain or quoted scalar
    without escapes; None when the value's text is not the file's text.
    """
    start, end = node.start_mark, node.end_mark
    value = node.value
    style = node.style or ""
    if not lines or not 0 <= offset <= len(value):
        return None  # no text: nodes made from the kernel command line
    if style in ("", "'", '"') and start.line == end.line:
        raw = lines[start.line][start.column : end.column] if start.line < len(lines) else ""
        inner = raw[1:-1] if style else raw
        if inner != value:  # escapes (\n, '') make the two differ
            return None
        return start.line + 1, start.column + 1 + offset + (1 if style else 0)
    if style == "|":
        header = lines[start.line][start.column :] if start.line < len(lines) else ""
        if any(c.isdigit() for c in header.split("#", 1)[0]):
            return None  # explicit indentation indicator: rare, not worth the guessing
        k = value.count("\n", 0, offset)
        col = offset - (value.rfind("\n", 0, offset) + 1)
        body = lines[start.line + 1 :]
        first = next((ln for ln in body if ln.strip()), "")
        indent = len(first) - len(first.lstrip(" "))
        return start.line + 2 + k, indent + col + 1
    return None
