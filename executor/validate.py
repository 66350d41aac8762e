"""Semantic checks of config values, beyond their YAML types.

The type tree in `schema` says which strings are regexes, shell conditions,
templates, encodings or unit names; the loader converts each node and asks
`check_value` (or `check_object`, for rules that tie keys together) about it,
so every finding gets the node's exact position and config path. Nothing here
reads the filesystem or starts a process: `validate` must be safe to run on a
workstation against any input, and cheap enough to run before every boot stage.

The `validate` command's check of whole sources is `sourcecheck`: it loads
them as a run does, so it sits above the engine, as this module sits below
the loader.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

from executor import schema as S
from executor.lazyre import lazy_compile
from executor.record import dataclass

ERROR, WARNING = "error", "warning"

# Stages a Kairos node runs: each boot stage with its .before/.after, and the
# agent's install/upgrade/reset hooks. Only used to spot typos: any other stage
# name is allowed (it runs when asked for).
BOOT_STAGES = ("rootfs", "initramfs", "boot", "fs", "network", "reconcile")
KAIROS_STAGES = (
    "after-install",
    "after-install-chroot",
    "after-upgrade",
    "after-upgrade-chroot",
    "after-reset",
    "after-reset-chroot",
    "before-install",
    "before-upgrade",
    "before-reset",
)
# The hooks kairos-agent runs around install, upgrade and reset (UKI or not);
# run as stages, each with its .before and .after substages.
KAIROS_HOOKS = tuple(
    f"kairos-{uki}{action}.{when}"
    for uki in ("", "uki-")
    for action in ("install", "upgrade", "reset")
    for when in ("pre", "after")
)
KNOWN_STAGES = frozenset(
    [f"{s}{sub}" for s in (*BOOT_STAGES, *KAIROS_HOOKS) for sub in ("", ".before", ".after")]
    + list(KAIROS_STAGES)
)
SERVICE_MANAGERS = ("systemd", "openrc")
UNIT_NAME_MAX = 255  # systemd's UNIT_NAME_MAX without the NUL
_UNIT_RE = lazy_compile(S.UNIT_PATTERN)
_UNIT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.\\-")


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
        Finding(
            ERROR,
            f"`if` has a broken test: {message} (dash exits 2 for it: a usage"
            " error, not a false condition)",
        )
        for message in test_usage_errors(node)
    )


def check_encoding(text: str) -> list[Finding]:
    from executor.modules.files import ENCODINGS  # the files module owns the spellings

    name = text.strip()
    if name in ENCODINGS:
        return []
    known = sorted(e for e in ENCODINGS if e)
    return [
        Finding(
            ERROR,
            f"unknown encoding `{text}`{_did_you_mean(name, known)} (known: {', '.join(known)})",
        )
    ]


def check_unit(text: str) -> list[Finding]:
    """A unit name systemd would accept; without a suffix it means .service."""
    name = text.strip()
    if not name:
        return [Finding(ERROR, "empty unit name")]
    if len(name) > UNIT_NAME_MAX:
        return [Finding(ERROR, f"unit name is longer than {UNIT_NAME_MAX} characters")]
    # a set test first: most names have no @instance, and then the regex (and
    # its compile, ~1M instructions) is not needed to know they are valid
    if not _UNIT_CHARS.issuperset(name) and not _UNIT_RE.match(name):
        return [
            Finding(
                ERROR,
                f"`{name}` is not a valid unit name (letters, digits and"
                " `:_.\\-`, with an optional `@instance`)",
            )
        ]
    return []


def check_dropin(text: str) -> list[Finding]:
    """A drop-in name is one file name inside UNIT.d/."""
    if "/" in text or text.strip() in (".", ".."):
        return [Finding(ERROR, f"drop-in name `{text}` must be a plain file name, without `/`")]
    return []


def check_service_manager(text: str) -> list[Finding]:
    if not text.strip() or text.strip().lower() in SERVICE_MANAGERS:
        return []
    return [
        Finding(WARNING, f"`{text}` is neither systemd nor openrc: the step will always be skipped")
    ]


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
        return [
            Finding(
                WARNING,
                f"`..` in `{text}`: it cannot leave the root, so the path"
                f" written is `{_inside_root(text)}`",
            )
        ]
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

    try:
        parse(text)  # what it renders Go accepts too: one pass for the common case
    except TemplateError as exc:
        problem = syntax_error(text)
        if problem is not None:
            return [Finding(ERROR, f"template: {problem.message}", offset=problem.offset)]
        return [
            Finding(
                WARNING,
                f"template: {exc.message}; this executor does not render it,"
                " so this step will fail",
                offset=exc.offset,
            )
        ]
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
