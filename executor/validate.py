"""Semantic checks of config values, beyond their YAML types.

The type tree in `schema` says which strings are regexes, shell conditions,
templates, encodings or unit names; the loader converts each node and asks
`check_value` (or `check_object`, for rules that tie keys together) about it,
so every finding gets the node's exact position and config path. Nothing here
reads the filesystem or starts a process: `validate` must be safe to run on a
workstation against any input, and cheap enough to run before every boot stage.

`check_sources` is `validate` itself: every document of every source, then
the step order of each source (`after:` targets and cycles, found by
`order`, where the DAG lives).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from executor import schema as S
from executor.record import dataclass

if TYPE_CHECKING:
    from executor.errors import Problem
    from executor.model import Config
    from executor.root import Root
    from executor.sources import SourceGroup

ERROR, WARNING = "error", "warning"

# Stages a Kairos node runs: each boot stage with its .before/.after, and the
# agent's install/upgrade/reset hooks. Only used to spot typos: any other stage
# name is allowed (it runs when asked for).
BOOT_STAGES = ("rootfs", "initramfs", "boot", "fs", "network", "reconcile")
KAIROS_STAGES = (
    "after-install", "after-install-chroot", "after-upgrade", "after-upgrade-chroot",
    "after-reset", "after-reset-chroot", "before-install", "before-upgrade", "before-reset",
)
# The hooks kairos-agent runs around install, upgrade and reset (UKI or not);
# run as stages, each with its .before and .after substages.
KAIROS_HOOKS = tuple(
    f"kairos-{uki}{action}.{when}"
    for uki in ("", "uki-") for action in ("install", "upgrade", "reset")
    for when in ("pre", "after")
)
KNOWN_STAGES = frozenset(
    [f"{s}{sub}" for s in (*BOOT_STAGES, *KAIROS_HOOKS) for sub in ("", ".before", ".after")]
    + list(KAIROS_STAGES)
)
SERVICE_MANAGERS = ("systemd", "openrc")
UNIT_NAME_MAX = 255  # systemd's UNIT_NAME_MAX without the NUL
_UNIT_RE = re.compile(S.UNIT_PATTERN)


@dataclass(frozen=True)
class Finding:
    """One problem with a value; the loader adds where it is."""

    severity: str
    message: str
    key: str = ""  # check_object: the key whose value the finding is about
    offset: int = -1  # character offset inside the value, when it is known


def check_value(kind: str, text: str) -> list[Finding]:
    """Problems of `text`, a string the type tree marks as `kind`."""
    check = _VALUE_CHECKS.get(kind)
    return [] if check is None else check(text)


def check_object(kind: str, values: Mapping[str, object]) -> list[Finding]:
    """Problems of a mapping as a whole; `values` holds only its valid values."""
    if kind == "file":
        return check_file(values)
    return []


# -- whole sources -----------------------------------------------------------------


def check_sources(
    read: list[SourceGroup], *, strict: bool = False, root: Root | None = None
) -> list[Problem]:
    """Every problem of the sources, in document order, then line order.

    What a run would report before running anything (each document checked
    on its own, then the step order of the valid ones), and beyond that the
    step-order problems of the invalid documents too, checked among all the
    documents that parsed: so one pass shows everything to fix.
    """
    from executor.engine import load_document, load_groups, strict_problem

    groups, problems = load_groups(read, strict=strict, quiet=True)
    for group, source in zip(groups, read, strict=True):
        found = _order_problems(group.configs, group.label)
        parsed = [r.config for doc in source.documents
                  if (r := load_document(doc, group.label)).config is not None]
        if len(parsed) > len(group.configs):
            valid = {c.source for c in group.configs}
            found += [p for p in _order_problems(parsed, group.label) if p.source not in valid]
        problems += [strict_problem(p, strict) for p in found if p not in problems]
    if root is not None:  # a unit file written by any source counts
        found = unit_problems([c for g in groups for c in g.configs], root)
        problems += [strict_problem(p, strict) for p in found]
    rank = {doc.source or doc.name: i for i, doc in enumerate(d for g in read for d in g.documents)}
    return sorted(problems, key=lambda p: (rank.get(p.source, -1), p.line, p.column))


def unit_problems(configs: list[Config], root: Root) -> list[Problem]:
    """Units to enable that neither the root nor any source provides.

    The run fails such a step (systemctl enable of a unit that does not
    exist). A warning, not an error: the root checked may not be the root
    the boot will see, and a command of an earlier step may install the unit.
    A unit file written by a `files` entry of any source counts as provided.
    """
    import posixpath

    from executor.errors import Problem
    from executor.units import UNIT_PATHS
    from executor.units.names import INSTANCE, UnitNameError, classify, mangle, template_of

    written = {
        posixpath.basename(f.path) for c in configs for steps in c.stages.values()
        for step in steps for f in step.files if posixpath.dirname(f.path) in UNIT_PATHS
    }
    found: list[Problem] = []
    for config in configs:
        for steps in config.stages.values():
            for step in steps:
                for i, unit in enumerate(step.systemctl.enable):
                    try:
                        name = mangle(unit)
                    except UnitNameError:
                        continue  # reported by check_unit
                    names = [name, template_of(name)] if classify(name) == INSTANCE else [name]
                    if written.intersection(names) or _unit_in_root(root, names, UNIT_PATHS):
                        continue
                    pos = step.pos
                    found.append(Problem(
                        "warning", config.source, pos.line if pos else 0,
                        pos.column if pos else 0,
                        f"stages.{step.stage}[{step.index}].systemctl.enable[{i}]",
                        f"unit {name} is not in {root.path}'s unit paths and no source writes"
                        " it: enabling it will fail there",
                    ))
    return found


def _unit_in_root(root: Root, names: list[str], directories: tuple[str, ...]) -> bool:
    from executor.errors import RootError

    for name in names:
        for directory in directories:
            try:
                if root.lookup(f"{directory}/{name}") is not None:
                    return True
            except RootError:
                continue
    return False


def _order_problems(configs: list[Config], label: str) -> list[Problem]:
    from executor.order import plan_source

    stages = sorted({stage for config in configs for stage in config.stages})
    return plan_source(configs, stages, label)[1]


# -- regexes, conditions, names ---------------------------------------------------


def check_regex(pattern: str) -> list[Finding]:
    """A regex of only_os/only_os_version/only_arch/node must compile."""
    try:
        re.compile(pattern)
    except re.error as exc:
        offset = exc.pos if exc.pos is not None else -1
        return [Finding(ERROR, f"invalid regex: {exc.msg}", offset=offset)]
    except (OverflowError, RecursionError, ValueError) as exc:
        return [Finding(ERROR, f"invalid regex: {exc}")]
    return []


def check_condition(expr: str) -> list[Finding]:
    """An `if` must be a valid template (yip renders it first) and valid shell.

    Only a real syntax error is a problem: an expression outside the native
    subset (NotNative) is valid shell that will run in /bin/sh. The shell
    check reads each `{{ ... }}` action as one word, as rendered text would be.
    """
    if "{{" not in expr:
        return list(_condition_findings(expr))
    found = check_template(expr)
    if any(f.severity == ERROR for f in found):
        return found
    import re

    return found + list(_condition_findings(re.sub(r"\{\{.*?\}\}", "x", expr, flags=re.S)))


@functools.lru_cache(maxsize=512)
def _condition_findings(expr: str) -> tuple[Finding, ...]:
    # Cached: Kairos configs repeat the same few conditions in many steps.
    from executor.conditions.shell import NotNative, ShellSyntaxError, parse

    if not expr.strip():
        return ()
    from executor.conditions.native import test_usage_errors

    try:
        node = parse(expr)
    except ShellSyntaxError as exc:
        return (Finding(ERROR, f"`if` is not valid shell: {exc}"),)
    except (NotNative, RecursionError):
        return ()
    return tuple(
        Finding(ERROR, f"`if` has a broken test: {message} (dash exits 2 for it: a usage"
                       " error, not a false condition)")
        for message in test_usage_errors(node)
    )


def check_encoding(text: str) -> list[Finding]:
    from executor.modules.files import ENCODINGS  # the files module owns the spellings

    name = text.strip()
    if name in ENCODINGS:
        return []
    known = sorted(e for e in ENCODINGS if e)
    return [Finding(ERROR, f"unknown encoding `{text}`{_did_you_mean(name, known)}"
                           f" (known: {', '.join(known)})")]


def check_unit(text: str) -> list[Finding]:
    """A unit name systemd would accept; without a suffix it means .service."""
    name = text.strip()
    if not name:
        return [Finding(ERROR, "empty unit name")]
    if len(name) > UNIT_NAME_MAX:
        return [Finding(ERROR, f"unit name is longer than {UNIT_NAME_MAX} characters")]
    if not _UNIT_RE.match(name):
        return [Finding(ERROR, f"`{name}` is not a valid unit name (letters, digits and"
                               " `:_.\\-`, with an optional `@instance`)")]
    return []


def check_dropin(text: str) -> list[Finding]:
    """A drop-in name is one file name inside UNIT.d/."""
    if "/" in text or text.strip() in (".", ".."):
        return [Finding(ERROR, f"drop-in name `{text}` must be a plain file name, without `/`")]
    return []


def check_service_manager(text: str) -> list[Finding]:
    if not text.strip() or text.strip().lower() in SERVICE_MANAGERS:
        return []
    return [Finding(WARNING, f"`{text}` is neither systemd nor openrc: the step will"
                             " always be skipped")]


def check_stage(name: str) -> list[Finding]:
    """A stage name close to a known one but not it is most likely a typo."""
    if name in KNOWN_STAGES:
        return []
    hint = _did_you_mean(name, sorted(KNOWN_STAGES), cutoff=0.85)
    if not hint:
        return []
    return [Finding(WARNING, f"unknown stage `{name}`{hint}")]


def _did_you_mean(word: str, choices: list[str], *, cutoff: float = 0.7) -> str:
    import difflib  # only when there is something wrong

    close = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    return f"; did you mean `{close[0]}`?" if close else ""


# -- files ----------------------------------------------------------------------------


def check_abspath(text: str) -> list[Finding]:
    """A path a step writes: the run refuses a relative one; `..` is allowed but odd.

    `..` cannot leave the root (it stops at the root's `/`, SPEC §4), so
    `/etc/../../x` writes `/x`: most likely not what was meant.
    """
    if not text.startswith("/"):
        return [Finding(ERROR, f"`{text}` is not an absolute path: the step would fail")]
    if ".." in text.split("/"):
        return [Finding(WARNING, f"`..` in `{text}`: it cannot leave the root, so the path"
                                 f" written is `{_inside_root(text)}`")]
    return []


def _inside_root(path: str) -> str:
    """`path` with `.` and `..` resolved lexically, `..` stopping at `/`."""
    import posixpath

    return posixpath.normpath("/" + path).replace("//", "/", 1)



def check_file(values: Mapping[str, object]) -> list[Finding]:
    """The content must decode with its encoding, and plain content must be a
    template that parses (yip renders file content after decoding it)."""
    from executor.errors import StepError
    from executor.modules.files import ENCODINGS, decode_content

    content = values.get("content")
    encoding = values.get("encoding")
    if not isinstance(content, str) or not content:
        return []
    encoding = encoding if isinstance(encoding, str) else ""
    if not encoding.strip():
        return [_on(f, "content") for f in check_template(content)]
    if encoding.strip() not in ENCODINGS:
        return []  # reported on `encoding` itself
    try:
        data = decode_content(content, encoding)
    except StepError as exc:
        return [Finding(ERROR, str(exc), key="content")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []  # binary content: yip's template pass cannot apply to it either
    return [
        Finding(f.severity, f"{f.message} (in the decoded content)", key="content")
        for f in check_template(text)
    ]


def _on(finding: Finding, key: str) -> Finding:
    return Finding(finding.severity, finding.message, key, finding.offset)


# -- templates ------------------------------------------------------------------------


def check_template(text: str) -> list[Finding]:
    """A template's syntax errors (errors), else what the renderer refuses (a warning).

    The syntax is Go's text/template, as yip parses it (`template.syntax_error`,
    the same lexer the renderer reads with): unclosed `{{`, empty actions,
    quotes, parentheses, empty pipeline stages, comments, and
    if/range/with/define/block matched with end. A template that is valid Go
    but outside the subset `executor.template` renders (other functions,
    `if`, variables, ...) fails its step at run time, as SPEC §2 says: a
    warning here, as for an unsupported module.
    """
    if "{{" not in text:
        return []
    from executor.template import TemplateError, parse, syntax_error

    problem = syntax_error(text)
    if problem is not None:
        return [Finding(ERROR, f"template: {problem.message}", offset=problem.offset)]
    try:
        parse(text)
    except TemplateError as exc:
        return [Finding(WARNING, f"template: {exc.message}; this executor does not render it,"
                                 " so this step will fail", offset=exc.offset)]
    return []


_VALUE_CHECKS: dict[str, Callable[[str], list[Finding]]] = {
    S.REGEX: check_regex,
    S.CONDITION: check_condition,
    S.TEMPLATE: check_template,
    S.ENCODING: check_encoding,
    S.UNIT: check_unit,
    S.DROPIN: check_dropin,
    S.SERVICE_MANAGER: check_service_manager,
    S.STAGE: check_stage,
    S.ABSPATH: check_abspath,
}
