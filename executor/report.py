"""Rendering a Report: the JSON document of SPEC §7 and the human lines."""

from __future__ import annotations

import os
import sys
import time

from executor import __version__
from executor.actions import Action
from executor.engine import (
    APPLIED,
    FAILED,
    PLANNED,
    SKIPPED,
    UNCHANGED,
    UNDECIDED,
    Report,
    StepReport,
)
from executor.errors import Problem

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import TextIO

FORMAT = 1
STATUSES = (APPLIED, PLANNED, UNCHANGED, SKIPPED, FAILED, UNDECIDED)


def as_json(report: Report) -> dict[str, object]:
    summary = {status: 0 for status in STATUSES}
    for step in report.steps:
        summary[step.status] = summary.get(step.status, 0) + 1
    return {
        "format": FORMAT,
        "command": report.command,
        "stage": report.stage,
        "root": report.root,
        "dry_run": report.dry_run,
        "steps": [_step_json(s) for s in report.steps],
        "errors": [p.as_json() for p in report.errors],
        "warnings": [p.as_json() for p in report.warnings],
        "summary": summary,
        "what_ifs": report.what_ifs.as_json(),
        "version": __version__,
        "started": timestamp(report.started),
        "finished": timestamp(report.finished),
        "duration": _seconds(report.started, report.finished),
        "sources": report.sources,
    }


def timestamp(when: float | None) -> str | None:
    """UTC, ISO 8601 with milliseconds: `2026-12-06T03:05:30.123Z`."""
    if when is None:
        return None
    # time.strftime, not datetime: one import less on a boot's path
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1000):03d}Z"


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


def _step_json(step: StepReport) -> dict[str, object]:
    condition = (
        step.condition.as_json() if step.condition else {"expr": "", "result": None, "by": "none"}
    )
    return {
        "stage": step.stage,
        "source": step.source,
        "name": step.name,
        "full_name": step.full_name,
        "status": step.status,
        "reason": step.reason,
        "condition": condition,
        "actions": [a.as_json() for a in step.actions],
        "started": timestamp(step.started),
        "duration": None if step.duration is None else round(step.duration, 3),
    }


def dumps(report: Report, *, pretty: bool = False) -> str:
    """The report as one JSON document.

    Compact unless `pretty`: json's C encoder only serves compact output, and
    a 10,000-step report indented takes the pure-Python encoder several times
    longer. People get it indented on a terminal; pipes and files get it compact.
    """
    if pretty:
        import json  # only a terminal gets it indented

        return json.dumps(as_json(report), indent=2, ensure_ascii=False) + "\n"
    return compact_json(as_json(report)) + "\n"


def compact_json(value: object) -> str:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, from the C encoder.

    Every real run writes its report, but the `json` package also imports its
    decoder and scanner and compiles their regexes (~5M instructions, a few
    per cent of a boot stage); `_json` is the accelerator json.dumps itself
    calls, with json.dumps's arguments (tests/test_boot_budget.py compares them).
    """
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:  # an interpreter built without the accelerator
        import json

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # (markers, default, encoder, indent, key_separator, item_separator,
    #  sort_keys, skipkeys, allow_nan), as json.encoder.JSONEncoder.iterencode
    encode = make_encoder(
        {}, _not_serializable, encode_basestring, None, ":", ",", False, False, True
    )
    return "".join(encode(value, 0))


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# -- human output ------------------------------------------------------------

MARKS = {
    APPLIED: ("✓", "32"),
    PLANNED: ("+", "36"),
    UNCHANGED: ("=", "2"),
    SKIPPED: ("-", "33"),
    FAILED: ("✗", "31"),
    UNDECIDED: ("?", "35"),
}
SEVERITY_COLOURS = {"error": "31", "warning": "33"}
DIFF_COLOURS = {"+": "32", "-": "31", "@": "36"}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, never with NO_COLOR set (no-color.org) or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def write_human(
    report: Report,
    stream: TextIO = sys.stdout,
    *,
    verbose: bool = False,
    show_secrets: bool = False,
    hide_warnings: frozenset[tuple[object, ...]] = frozenset(),
) -> None:
    """One line per step, with what changed below it; diffs in a dry-run.

    The diff of a file others may not read (a 0600 key, /etc/shadow) is
    replaced by a note unless `show_secrets`: a dry-run's output ends up in
    terminals, CI logs and bug reports. Warnings in `hide_warnings` (keys as
    status.warning_key makes them) were shown earlier this boot: counted, not repeated.
    """
    colour = use_colour(stream)
    hidden = 0
    for problem in report.problems:
        if problem.severity == "warning" and _warning_key(problem) in hide_warnings:
            hidden += 1
            continue
        stream.write(format_problem(problem, colour) + "\n")
    if hidden:
        stream.write(
            f"({_plural(hidden, 'warning')} not repeated: an earlier run of this boot"
            " showed them; `stage-executor validate` lists all)\n"
        )
    for step in report.steps:
        stream.write(step_line(step, colour) + "\n")
        if verbose:
            stream.write(_indent(condition_details(step), "    "))
        for action in step.actions:
            stream.write(
                _action_lines(report, action, colour, verbose=verbose, show_secrets=show_secrets)
            )
    stream.write(summary_line(report) + "\n")


def step_line(step: StepReport, colour: bool = False) -> str:
    """`✓ applied [boot] conf.step`, `- skipped [boot] conf.step (why)`, ..."""
    mark, code = MARKS.get(step.status, ("?", "0"))
    why = f" ({step.reason})" if step.reason else ""
    return f"{_paint(f'{mark} {step.status}', code, colour)} [{step.stage}] {step.full_name}{why}"


def condition_details(step: StepReport) -> str:
    """How the step's condition was decided (for -v)."""
    c = step.condition
    if c is None:
        return "" if step.reason else "no condition\n"
    result = {True: "true", False: "false", None: "undecided"}[c.result]
    how = {"native": "evaluated natively", "shell": "by /bin/sh", "none": "not evaluated"}
    line = f"if: {c.expr.strip()} -> {result} ({how.get(c.by, c.by)})"
    if c.detail:
        line += f": {c.detail}"
    return line + "\n"


def _action_lines(
    report: Report, action: Action, colour: bool, *, verbose: bool, show_secrets: bool = False
) -> str:
    out = ""
    if action.changes or action.skipped or verbose:  # what was not done, and why
        out += f"    {describe_action(action)}\n"
    if report.dry_run and action.data is not None and action.old is not None:
        if is_secret(action) and not show_secrets:
            out += f"    {secret_note(action)}\n"
        else:
            out += _indent(_paint_diff(content_diff(action), colour), "    ")
    failed = action.exit is not None and action.exit != 0
    if action.output and (verbose or failed):  # a failed command's output is why it failed
        out += _indent(action.output, "    | ")
    return out


def _warning_key(problem: Problem) -> tuple[object, ...]:
    from executor.status import warning_key

    return warning_key(problem.as_json())


def summary_line(report: Report) -> str:
    counts = {status: 0 for status in STATUSES}
    for step in report.steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    problems = [_plural(len(report.errors), "config error")] if report.errors else []
    dry = " (dry-run)" if report.dry_run else ""
    if report.what_ifs:
        dry = f" (dry-run; {report.what_ifs.describe()})"
    return f"{report.command} {report.stage}: {', '.join(parts + problems) or 'no steps'}{dry}"


def format_problem(problem: Problem, colour: bool = False) -> str:
    """FILE:LINE:COL: error|warning: message (config.path)"""
    if not colour:
        return problem.format()
    code = SEVERITY_COLOURS.get(problem.severity, "0")
    return problem.format().replace(
        f": {problem.severity}: ", f": {_paint(problem.severity, code, True)}: ", 1
    )


def describe_action(action: Action) -> str:
    # "none" is the JSON's word; in a sentence the action keeps what is there.
    verb = action.change if action.changes else "skip" if action.skipped else "keep"
    # "remove remove PATH" says nothing twice: a remove action is its own verb.
    bits = [verb] if verb == action.kind else [verb, action.kind]
    if action.path:
        bits.append(action.path)
    if action.target:
        bits.append(f"-> {action.target}")
    if action.command:
        bits.append(f"`{action.command}`")
    if action.mode is not None:
        bits.append(f"mode {action.mode:04o}")
    if action.uid is not None:
        bits.append(f"owner {action.uid}:{action.gid}")
    if action.exit is not None:
        bits.append(f"exit {action.exit}")
    if action.detail:
        bits.append(f"({action.detail})")
    return " ".join(bits)


# Files whose content is secret whatever their mode says.
SECRET_PATHS = frozenset({"/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-"})


def is_secret(action: Action) -> bool:
    """Content others may not read: a mode without the world-read bit, or a shadow file."""
    if action.path in SECRET_PATHS:
        return True
    return action.mode is not None and not action.mode & 0o004


def secret_note(action: Action) -> str:
    old, new = len(action.old or b""), len(action.data or b"")
    why = f"mode {action.mode:04o}" if action.mode is not None else "a secret file"
    if old == new and action.old == action.data:
        return f"(content not shown: {why}, others may not read it)"
    return (
        f"(content not shown: {why}, others may not read it; {old} -> {new} bytes;"
        " --show-secrets shows it)"
    )


def content_diff(action: Action) -> str:
    """Unified diff of a file's old and new content; a note for binary content."""
    old, new = action.old or b"", action.data or b""
    if b"\0" in old or b"\0" in new:
        return f"binary content: {len(old)} -> {len(new)} bytes\n" if old != new else ""
    return unified_diff(action)


def unified_diff(action: Action) -> str:
    import difflib  # only a dry-run with content changes needs it

    old = (action.old or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    new = (action.data or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"a{action.path}", f"b{action.path}")
    out = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return out


def _paint_diff(diff: str, colour: bool) -> str:
    if not colour:
        return diff
    out = []
    for line in diff.splitlines(keepends=True):
        code = DIFF_COLOURS.get(line[:1], "")
        body = line.rstrip("\n")
        out.append((_paint(body, code, True) if code else body) + "\n")
    return "".join(out)


def _indent(text: str, prefix: str) -> str:
    return "".join(
        prefix + line + ("" if line.endswith("\n") else "\n")
        for line in text.splitlines(keepends=True)
    )


# -- validate --------------------------------------------------------------------


def write_validation(problems: list[Problem], documents: int, stream: TextIO) -> None:
    """`FILE:LINE:COL: error|warning: message (config.path)` lines, then a count."""
    colour = use_colour(stream)
    for problem in problems:
        stream.write(format_problem(problem, colour) + "\n")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    counts = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    stream.write(f"validate: {counts} in {_plural(documents, 'document')}\n")


def validation_json(root: str, documents: list[str], problems: list[Problem]) -> str:
    """The errors/warnings lists of the run report, for `validate --json`."""
    import json

    doc = {
        "format": FORMAT,
        "command": "validate",
        "root": root,
        "sources": documents,
        "errors": [p.as_json() for p in problems if p.severity == "error"],
        "warnings": [p.as_json() for p in problems if p.severity != "error"],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
