"""Rendering a Report: the JSON document of SPEC §7 and the human lines."""

from __future__ import annotations

import os
import sys
from typing import TextIO

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
    }


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
    }


def dumps(report: Report) -> str:
    import json  # not needed on a plain human-output run

    return json.dumps(as_json(report), indent=2, ensure_ascii=False) + "\n"


# -- human output ------------------------------------------------------------

MARKS = {
    APPLIED: ("✓", "32"),
    PLANNED: ("+", "36"),
    UNCHANGED: ("=", "2"),
    SKIPPED: ("-", "33"),
    FAILED: ("✗", "31"),
    UNDECIDED: ("?", "35"),
}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def write_human(report: Report, stream: TextIO = sys.stdout, *, verbose: bool = False) -> None:
    colour = use_colour(stream)
    for problem in report.problems:
        stream.write(problem.format() + "\n")
    for step in report.steps:
        mark, code = MARKS.get(step.status, ("?", "0"))
        head = f"{mark} {step.status}"
        if colour:
            head = f"\033[{code}m{head}\033[0m"
        why = f" ({step.reason})" if step.reason else ""
        stream.write(f"{head} [{step.stage}] {step.full_name}{why}\n")
        if verbose and step.condition is not None:
            c = step.condition
            stream.write(f"    if {c.expr} -> {c.result} ({c.by})\n")
        for action in step.actions:
            if action.changes or verbose:
                stream.write(f"    {describe_action(action)}\n")
            if report.dry_run and action.data is not None and action.old is not None:
                stream.write(_indent(unified_diff(action), "    "))
            if verbose and action.output:
                stream.write(_indent(action.output, "    | "))
    counts = {status: 0 for status in STATUSES}
    for step in report.steps:
        counts[step.status] += 1
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    stream.write(f"{report.command} {report.stage}: {', '.join(parts) or 'no steps'}"
                 f"{' (dry-run)' if report.dry_run else ''}\n")


def describe_action(action: Action) -> str:
    bits = [action.change, action.kind]
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


def unified_diff(action: Action) -> str:
    import difflib  # only a dry-run with content changes needs it

    old = (action.old or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    new = (action.data or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"a{action.path}", f"b{action.path}")
    out = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                  for line in lines)
    return out


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line + ("" if line.endswith("\n") else "\n")
                   for line in text.splitlines(keepends=True))
