"""YAML text -> typed Config, keeping file:line:column for every problem.

PyYAML's composer gives nodes that carry their marks; we convert those nodes
by walking the type tree of `schema`, so every type error points at the exact
node that caused it.

Input is untrusted (configs come from user-writable places), so every stage
is bounded: the text's length (MAX_TEXT), the nesting depth (MAX_DEPTH) and
the number of nodes (MAX_NODES) while composing, and the nodes visited with
aliases and merge keys expanded while converting (MAX_NODES again, so alias
bombs and merge-key bombs are refused). Composing runs PyYAML's Python
composer over libyaml's events, with a depth guard: libyaml's own composer
recurses in C and crashes the interpreter (SIGSEGV) on a 100,000-deep
document, which fits easily in a few hundred kilobytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from executor import cloudconfig, validate
from executor import schema as S
from executor.build import INVALID, ObjData, if_files_spec, plain
from executor.errors import Problem
from executor.model import Config, Position, Step
from executor.record import dataclass, replace

_OPENING = (MappingStartEvent, SequenceStartEvent)
_CLOSING = (MappingEndEvent, SequenceEndEvent)
_LEAVES = (ScalarEvent, AliasEvent)

try:  # libyaml's parser and composer: several times faster than the Python ones
    from yaml import CSafeLoader as _CSafeLoader
    from yaml._yaml import CParser as _EventSource
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _CSafeLoader = None  # type: ignore[assignment,misc]
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventSource(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)

# Upper bound on nodes visited in one document, aliases expanded: a YAML
# "billion laughs" document is refused instead of eating the node's memory.
MAX_NODES = 200_000
# Nesting levels of one document: a cloud-config needs about ten.
MAX_DEPTH = 100
# Characters of one document (the size sources.MAX_SOURCE_BYTES allows a file).
MAX_TEXT = 16 << 20

_TAG = "tag:yaml.org,2002:"
_SCALARS = yaml.constructor.SafeConstructor()


@dataclass
class LoadResult:
    config: Config | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return self.config is not None and not any(
            p.severity == "error" for p in self.problems
        )


def load_text(text: str, source: str, *, group: str = "", path: str = "") -> LoadResult:
    """Parse and convert one document. Never raises for bad input.

    `source` names the document in problems and reports; `path` (default:
    `source`) is the name its steps get when it has no `name`.
    """
    result = _Converter(source).load(text, group=group)
    if result.config is not None and path:
        result.config = replace(result.config, path=path)
    return result


def load_node(node: Node, source: str, *, group: str = "", path: str = "") -> LoadResult:
    """Convert a document given as YAML nodes (the kernel command line's)."""
    result = _Converter(source).load_node(node, group=group)
    if result.config is not None and path:
        result.config = replace(result.config, path=path)
    return result


def is_cloud_config(text: str) -> bool:
    """True when the document has the `#cloud-config` header (see cloudconfig)."""
    return cloudconfig.is_cloud_config(text)


class _Converter:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.visited = 0
        self.lines: list[str] = []  # the document's lines, to place findings inside values
        self.depth = 0

    # -- problems -------------------------------------------------------

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

    # -- entry ----------------------------------------------------------

    def load(self, text: str, *, group: str) -> LoadResult:
        if len(text) > MAX_TEXT:
            self.problems.append(Problem(
                "error", self.source, 0, 0, "",
                f"document refused: {len(text)} characters, more than {MAX_TEXT}",
            ))
            return LoadResult(None, self.problems)
        self.lines = _YAML_LINE_BREAK.split(text)
        try:
            root = compose_bounded(text)
        except LimitExceeded as exc:
            self.problems.append(
                Problem("error", self.source, exc.line, exc.column, "", str(exc))
            )
            return LoadResult(None, self.problems)
        except yaml.MarkedYAMLError as exc:
            line, column, what = _syntax_error(exc, self.lines)
            self.problems.append(
                Problem("error", self.source, line, column, "", f"YAML syntax: {what}")
            )
            return LoadResult(None, self.problems)
        except yaml.reader.ReaderError as exc:
            # A character YAML refuses (a control character): placed, on one line.
            before = _YAML_LINE_BREAK.split(text[: exc.position])
            line, column = len(before), len(before[-1]) + 1
            char = exc.character
            shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
            what = f"character {shown} is not allowed ({exc.reason})"
            self.problems.append(Problem("error", self.source, line, column, "", f"YAML: {what}"))
            return LoadResult(None, self.problems)
        except yaml.YAMLError as exc:
            message = " ".join(str(exc).split())  # one line, whatever PyYAML wrote
            self.problems.append(Problem("error", self.source, 0, 0, "", f"YAML: {message}"))
            return LoadResult(None, self.problems)
        except RecursionError:
            self.problems.append(
                Problem("error", self.source, 0, 0, "", "YAML nesting is too deep")
            )
            return LoadResult(None, self.problems)
        return self.load_node(root, group=group, cloud=cloudconfig.is_cloud_config(text))

    def load_node(self, root: Node | None, *, group: str, cloud: bool = False) -> LoadResult:
        if root is None or _is_null(root):
            return LoadResult(Config(self.source, "", {}, group), self.problems)
        try:
            data = self.convert(root, S.CONFIG if cloud else S.YIP_CONFIG, "")
            if isinstance(data, ObjData):
                config = self.build_config(data, group)
                if cloud:
                    config = self.add_cloud_config(root, config)
                else:
                    self.warn_cloud_keys(root)
        except RecursionError:
            self.error(root, "", "YAML nesting is too deep")
            return LoadResult(None, self.problems)
        except _TooLarge:
            self.error(root, "", f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
            return LoadResult(None, self.problems)
        except LimitExceeded as exc:
            self.problems.append(
                Problem("error", self.source, exc.line, exc.column, "", str(exc))
            )
            return LoadResult(None, self.problems)
        if not isinstance(data, ObjData):
            return LoadResult(None, self.problems)
        return LoadResult(config, self.problems)

    # -- #cloud-config ----------------------------------------------------

    def add_cloud_config(self, root: Node, config: Config) -> Config:
        """Put the steps made of the cloud-init keys before each stage's own steps."""
        if any(p.severity == "error" for p in self.problems):
            return config  # the document will not run; do not report twice
        top = self.pairs(root, "") or []
        generated = cloudconfig.generate_steps(top, self.source, self.pairs)
        self.problems += generated.problems
        stages = dict(config.stages)
        for stage, nodes in generated.stages.items():
            made = []
            for i, node in enumerate(nodes):
                data = self.convert(node, S.STEP, f"stages.{stage}[{i}]")
                if isinstance(data, ObjData):
                    made.append(self.build_step(stage, i, data))
            own = tuple(replace(s, index=s.index + len(made)) for s in stages.get(stage, ()))
            stages[stage] = (*made, *own)
        return replace(config, stages=stages)

    def warn_cloud_keys(self, root: Node) -> None:
        """Cloud-init keys in a document without the header are ignored, as in yip: say so."""
        if not isinstance(root, MappingNode):
            return
        for key_node, _ in root.value:
            if isinstance(key_node, ScalarNode) and key_node.value in S.CLOUD_CONFIG_FIELDS:
                self.warning(
                    key_node,
                    key_node.value,
                    f"`{key_node.value}` is read only in a #cloud-config document"
                    " (make `#cloud-config` its first line); ignored",
                )

    # -- generic conversion ----------------------------------------------

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
            raise _TooLarge
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
            value = "" if _is_null(node) else str(node.value)
            if condition and node.tag in (_TAG + "int", _TAG + "float"):
                self.warning(node, path, f"`if: {value}` is a number, run as the command"
                             f" `{value}`, which does not exist: the step never runs; write"
                             " true, false or a quoted shell condition")
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
        return self.lines[start.line][start.column:end.column]

    def conv_int(self, node: Node, t: S.Type, path: str) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "int":
            return _SCALARS.construct_yaml_int(node)
        hint = ""
        key = path.rsplit(".", 1)[-1]
        if isinstance(node, ScalarNode) and key in ("owner", "group") and ".files[" in path:
            # owner/group are numeric ids, as in yip; names go in owner_string
            example = node.value if key == "owner" else f"USER:{node.value}"
            hint = (f"; for a name use owner_string: {example} (resolved in the root's"
                    " /etc/passwd and /etc/group)")
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
        if isinstance(node, ScalarNode) and _is_null(node):
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

    # -- mapping helpers --------------------------------------------------

    def pairs(self, node: Node, path: str) -> list[tuple[str, Node, Node]] | None:
        """Key/value pairs of a mapping node, merge keys applied, duplicates refused."""
        if isinstance(node, ScalarNode) and _is_null(node):
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

    # -- model building ---------------------------------------------------

    def build_config(self, data: ObjData, group: str) -> Config:
        stages: dict[str, tuple[Step, ...]] = {}
        for stage, steps in (data.get("stages") or {}).items():
            if steps is INVALID:
                continue
            stages[stage] = tuple(
                self.build_step(stage, i, s) for i, s in enumerate(steps) if isinstance(s, ObjData)
            )
        return Config(self.source, data.get("name", ""), stages, group)

    def build_step(self, stage: str, index: int, d: ObjData) -> Step:
        afters = [
            a for a in d.get("after", [])
            if isinstance(a, ObjData) and a.values.get("name") is not INVALID
        ]
        attrs: dict[str, Any] = {}
        modules: dict[str, Any] = {}
        for key, value in d.values.items():  # a key left out keeps the Step's default
            m = S.MODULES_BY_KEY.get(key)
            if m is None or value is None or value is INVALID:
                continue
            if m.build is not None:  # the step's table says which attribute, built how
                attrs[m.attr] = m.build(value)
            modules[key] = plain(value)
        for key in S.UNSUPPORTED_MODULES:
            if key in modules:
                self.problems.append(Problem(
                    "warning", self.source, d.key_pos[key].line, d.key_pos[key].column,
                    f"stages.{stage}[{index}].{key}",
                    f"module {key} is not supported by this executor: this step will fail",
                ))
        return Step(
            stage=stage,
            index=index,
            name=d.get("name", ""),
            if_=d.get("if", ""),
            if_files=if_files_spec(d.get("if_files")),
            only_os=d.get("only_os", ""),
            only_os_version=d.get("only_os_version", ""),
            only_arch=d.get("only_arch", ""),
            only_service_manager=d.get("only_service_manager", ""),
            node=d.get("node", ""),
            after=tuple(a.get("name", "") for a in afters),
            after_pos=tuple(a.value_pos.get("name", a.pos) for a in afters),
            modules=modules,
            pos=d.pos,
            **attrs,
        )


class _TooLarge(Exception):
    pass


def _syntax_error(exc: yaml.MarkedYAMLError, lines: list[str]) -> tuple[int, int, str]:
    """LINE, COLUMN and message of a YAML syntax error, with both of PyYAML's marks.

    The problem mark says where the parser gave up, which for an unclosed
    `[` or `{` is the end of the file (a line past the last one); the context
    mark says what it was parsing and where that started. Both are kept.
    """
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    what = exc.problem or exc.context or "invalid YAML"
    if mark is not None and _at_end(mark.line, mark.column, lines):
        last = len(lines) - 1
        while last > 0 and not lines[last].strip():
            last -= 1
        line, column = last + 1, len(lines[last]) + 1
        if "end of stream" in what:
            what = what.replace("end of stream", "end of the file")
        else:
            what += " before the end of the file"
    context = exc.context_mark
    if exc.context and context is not None and context is not mark \
            and not _at_end(context.line, context.column, lines):
        what += f" ({exc.context} that starts at line {context.line + 1},"
        what += f" column {context.column + 1})"
    return line, column, what


def _at_end(line: int, column: int, lines: list[str]) -> bool:
    """True when (line, column), 0-based, is past the last non-blank text."""
    if line >= len(lines):
        return True
    if lines[line][column:].strip():
        return False
    return not any(rest.strip() for rest in lines[line + 1:])


class LimitExceeded(yaml.YAMLError):
    """A document is deeper or larger than the loader accepts (a YAMLError, so
    that callers handling bad YAML handle it too)."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 0
        self.column = mark.column + 1 if mark is not None else 0


class _BoundedComposer(Composer, _EventSource, Resolver):
    """PyYAML's composer (Python, first in the MRO) over the event source,
    counting depth and nodes as it goes so it stops long before the stack or
    the memory would."""

    def __init__(self, text: str) -> None:
        _EventSource.__init__(self, text)
        Composer.__init__(self)
        Resolver.__init__(self)
        self.depth = 0
        self.count = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.depth += 1
        self.count += 1
        if self.depth > MAX_DEPTH:
            raise LimitExceeded(f"YAML nesting deeper than {MAX_DEPTH} levels", self._mark())
        if self.count > MAX_NODES:
            raise LimitExceeded(f"YAML document has more than {MAX_NODES} nodes", self._mark())
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


    def _mark(self) -> Any:
        event = self.peek_event()
        return event.start_mark if event is not None else None


def parse_value(text: str) -> Any:
    """The plain Python value of a YAML text, within the loader's bounds.

    For YAML held inside a config value (an entity, say): `yaml.safe_load`
    there would recurse without limit on deep input and let an alias bomb
    expand later. Raises yaml.YAMLError, LimitExceeded included.
    """
    if len(text) > MAX_TEXT:
        raise LimitExceeded(f"YAML text of {len(text)} characters, more than {MAX_TEXT}")
    node = compose_bounded(text)
    if node is None:
        return None
    try:
        return _Converter("").plain(node)
    except _TooLarge:
        raise LimitExceeded(f"YAML expands to more than {MAX_NODES} nodes") from None


def compose_bounded(text: str) -> Node | None:
    """`yaml.compose(text)` that refuses (LimitExceeded) instead of crashing."""
    if _CSafeLoader is not None:
        # libyaml's composer recurses without a limit, so measure the depth on
        # its events first (a flat loop); then let it compose, several times
        # faster than the Python composer.
        _check_bounds(text)
        node: Node | None = yaml.compose(text, Loader=_CSafeLoader)
        return node
    composer = _BoundedComposer(text)
    try:
        return composer.get_single_node()
    finally:
        composer.dispose()


def _next_event(events: Any) -> Any:
    """The next parser event; libyaml's own nesting limit (newer builds stop at
    1,000 levels) is reported as ours, so the message does not depend on the
    PyYAML version."""
    try:
        return events.get_event()
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):
            raise LimitExceeded(
                f"YAML nesting deeper than {MAX_DEPTH} levels", exc.problem_mark
            ) from None
        raise


def _check_bounds(text: str) -> None:
    """Raise LimitExceeded when the document nests deeper than MAX_DEPTH or has
    more than MAX_NODES nodes (aliases not expanded: the converter counts those)."""
    events = _EventSource(text)
    depth = count = 0
    try:
        while (event := _next_event(events)) is not None:
            kind = type(event)
            if kind in _OPENING:
                depth += 1
                count += 1
                if depth > MAX_DEPTH:
                    raise LimitExceeded(
                        f"YAML nesting deeper than {MAX_DEPTH} levels", event.start_mark
                    )
            elif kind in _CLOSING:
                depth -= 1
            elif kind in _LEAVES:
                count += 1
            if count > MAX_NODES:
                raise LimitExceeded(f"YAML document has more than {MAX_NODES} nodes",
                                    event.start_mark)
    finally:
        events.dispose()


_HANDLERS: dict[type, Callable[[_Converter, Node, S.Type, str], Any]] = {
    S.Str: _Converter.conv_str,
    S.Int: _Converter.conv_int,
    S.Bool: _Converter.conv_bool,
    S.Mode: _Converter.conv_mode,
    S.AnyValue: _Converter.conv_any,
    S.ListOf: _Converter.conv_list,
    S.MapOf: _Converter.conv_map,
    S.Obj: _Converter.conv_obj,
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


def _is_null(node: Node) -> bool:
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
_YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


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
