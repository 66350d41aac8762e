"""YAML text -> typed Config, keeping file:line:column for every problem.

The steps, each its own module: `compose` turns the text into YAML nodes
within bounds (the text's length, MAX_TEXT, is checked here), `convert`
converts the nodes by the type tree of `schema` (every problem placed at its
node), and the model is built of the converted values (`build`, and the
step's table in `schema`). Here: the entry points, YAML errors mapped to
problems, the building of Config and Step, and the #cloud-config keys.
"""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from executor import schema as S
from executor.build import INVALID, ObjData, if_files_spec, plain
from executor.compose import MAX_NODES, MAX_TEXT, LimitExceeded, compose_bounded
from executor.convert import YAML_LINE_BREAK, Converter, TooLarge, is_null
from executor.errors import Problem
from executor.model import Config, Step
from executor.record import dataclass, replace

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any


@dataclass
class LoadResult:
    config: Config | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return self.config is not None and not any(p.severity == "error" for p in self.problems)


def load_text(text: str, source: str, *, group: str = "", path: str = "") -> LoadResult:
    """Parse and convert one document. Never raises for bad input.

    `source` names the document in problems and reports; `path` (default:
    `source`) is the name its steps get when it has no `name`.
    """
    result = _Loader(source).load(text, group=group)
    if result.config is not None and path:
        result.config = replace(result.config, path=path)
    return result


def load_node(node: Node, source: str, *, group: str = "", path: str = "") -> LoadResult:
    """Convert a document given as YAML nodes (the kernel command line's)."""
    result = _Loader(source).load_node(node, group=group)
    if result.config is not None and path:
        result.config = replace(result.config, path=path)
    return result


CLOUD_CONFIG_HEADER = "#cloud-config"
HEADER_LINES = 10  # yip looks for the header in the first ten lines


def is_cloud_config(text: str) -> bool:
    """True when `#cloud-config` is the first line that is not blank or another comment.

    As yip does, only the first ten lines are looked at, and trailing blanks
    (a CR from a DOS file included) are ignored. The test lives here, not in
    `cloudconfig`, so that a plain yip document does not import that module.
    """
    for line in text.lstrip("\ufeff").split("\n")[:HEADER_LINES]:
        stripped = line.rstrip()
        if stripped == CLOUD_CONFIG_HEADER:
            return True
        if stripped and not stripped.startswith("#"):
            return False
    return False


class _Loader(Converter):
    """A Converter of whole documents: YAML errors become problems, the model is
    built, #cloud-config keys become steps."""

    def load(self, text: str, *, group: str) -> LoadResult:
        if len(text) > MAX_TEXT:
            self.problems.append(
                Problem(
                    "error",
                    self.source,
                    0,
                    0,
                    "",
                    f"document refused: {len(text)} characters, more than {MAX_TEXT}",
                )
            )
            return LoadResult(None, self.problems)
        self.text, self._lines = text, None
        try:
            root = compose_bounded(text)
        except LimitExceeded as exc:
            self.problems.append(Problem("error", self.source, exc.line, exc.column, "", str(exc)))
            return LoadResult(None, self.problems)
        except yaml.MarkedYAMLError as exc:
            line, column, what = _syntax_error(exc, self.lines)
            self.problems.append(
                Problem("error", self.source, line, column, "", f"YAML syntax: {what}")
            )
            return LoadResult(None, self.problems)
        except yaml.reader.ReaderError as exc:
            # A character YAML refuses (a control character): placed, on one line.
            before = YAML_LINE_BREAK.split(text[: exc.position])
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
        return self.load_node(root, group=group, cloud=is_cloud_config(text))

    def load_node(self, root: Node | None, *, group: str, cloud: bool = False) -> LoadResult:
        if root is None or is_null(root):
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
        except TooLarge:
            self.error(root, "", f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
            return LoadResult(None, self.problems)
        except LimitExceeded as exc:
            self.problems.append(Problem("error", self.source, exc.line, exc.column, "", str(exc)))
            return LoadResult(None, self.problems)
        if not isinstance(data, ObjData):
            return LoadResult(None, self.problems)
        return LoadResult(config, self.problems)

    def add_cloud_config(self, root: Node, config: Config) -> Config:
        """Put the steps made of the cloud-init keys before each stage's own steps."""
        if any(p.severity == "error" for p in self.problems):
            return config  # the document will not run; do not report twice
        from executor import cloudconfig  # only #cloud-config documents need it

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
            a
            for a in d.get("after", [])
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
                self.problems.append(
                    Problem(
                        "warning",
                        self.source,
                        d.key_pos[key].line,
                        d.key_pos[key].column,
                        f"stages.{stage}[{index}].{key}",
                        f"module {key} is not supported by this executor: this step will fail",
                    )
                )
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
    if (
        exc.context
        and context is not None
        and context is not mark
        and not _at_end(context.line, context.column, lines)
    ):
        what += f" ({exc.context} that starts at line {context.line + 1},"
        what += f" column {context.column + 1})"
    return line, column, what


def _at_end(line: int, column: int, lines: list[str]) -> bool:
    """True when (line, column), 0-based, is past the last non-blank text."""
    if line >= len(lines):
        return True
    if lines[line][column:].strip():
        return False
    return not any(rest.strip() for rest in lines[line + 1 :])


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
        return Converter("").plain(node)
    except TooLarge:
        raise LimitExceeded(f"YAML expands to more than {MAX_NODES} nodes") from None
