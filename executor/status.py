"""`stage-executor status [STAGE]`: what the runs of this boot did, read back.

A real run keeps its JSON report at /run/stage-executor/STAGE.json in the
root (SPEC §7). This reads them back, in the spirit of `cloud-init status
--long` and `systemd-analyze blame`: without STAGE one line per kept report
(when, how long, what happened); with STAGE that report's steps, each with
its status, reason and duration, then the slowest steps and commands.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from executor.errors import ExecutorError, RootError
from executor.root import Root

REPORT_DIR = "/run/stage-executor"
SLOWEST = 5  # steps and commands listed as the ones that took the time
MARKS = {
    "applied": "✓",
    "planned": "+",
    "unchanged": "=",
    "skipped": "-",
    "failed": "✗",
    "undecided": "?",
}


class StatusError(ExecutorError):
    """No report to show, or one that cannot be read."""


def report_names(root: Root) -> list[str]:
    """Stages that have a kept report, in the order they ran (by start time, then name)."""
    try:
        names = root.listdir(REPORT_DIR) if root.lookup(REPORT_DIR) is not None else []
    except RootError as exc:
        raise StatusError(f"cannot read {REPORT_DIR}: {exc}") from None
    return sorted(n[: -len(".json")] for n in names if n.endswith(".json"))


def read_report(root: Root, stage: str) -> dict[str, Any]:
    path = f"{REPORT_DIR}/{stage}.json"
    try:
        data = root.read_bytes(path, limit=256 << 20)
        doc = json.loads(data)
    except RootError as exc:
        raise StatusError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise StatusError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise StatusError(f"{path}: not a stage-executor report")
    return doc


def read_reports(root: Root) -> list[dict[str, Any]]:
    """Every kept report, in run order (older reports have no `started`: first)."""
    docs = [read_report(root, name) for name in report_names(root)]
    return sorted(docs, key=lambda d: (d.get("started") or "", str(d.get("stage"))))


def failed(doc: dict[str, Any]) -> bool:
    return bool(doc.get("errors")) or any(s.get("status") == "failed" for s in doc["steps"])


def overview_json(root: Root, docs: list[dict[str, Any]]) -> str:
    reports = [
        {
            key: doc.get(key)
            for key in ("stage", "command", "started", "finished", "duration", "version", "summary")
        }
        | {"failed": failed(doc), "errors": len(doc.get("errors") or [])}
        for doc in docs
    ]
    out = {"format": 1, "command": "status", "root": root.path, "reports": reports}
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def write_overview(root: Root, docs: list[dict[str, Any]], stream: TextIO) -> None:
    if not docs:
        stream.write(f"no stage has run in {root.path} since boot ({REPORT_DIR} has no report)\n")
        return
    for doc in docs:
        state = "failed" if failed(doc) else "done"
        stream.write(f"{doc.get('stage')}: {state}, {_counts(doc)}{_when(doc)}\n")


def write_stage(doc: dict[str, Any], stream: TextIO, *, verbose: bool = False) -> None:
    """One kept report: its header, one line per step, the slowest steps and commands."""
    version = f", stage-executor {doc['version']}" if doc.get("version") else ""
    stream.write(
        f"{doc.get('command')} {doc.get('stage')} in {doc.get('root')}{_when(doc)}{version}\n"
    )
    for source in doc.get("sources") or []:
        stream.write(f"  source {source}\n")
    for problem in (doc.get("errors") or []) + (doc.get("warnings") or []):
        where = f"{problem.get('source')}:{problem.get('line')}:{problem.get('column')}"
        severity = "error" if problem in (doc.get("errors") or []) else "warning"
        stream.write(f"{where}: {severity}: {problem.get('message')}\n")
    for step in doc["steps"]:
        status = str(step.get("status"))
        why = f" ({step['reason']})" if step.get("reason") else ""
        took = _took(step.get("duration"))
        stream.write(
            f"{MARKS.get(status, '?')} {status} [{step.get('stage')}]"
            f" {step.get('full_name') or step.get('name')}{why}{took}\n"
        )
        for action in step.get("actions") or []:
            if action.get("kind") != "command" or "exit" not in action:
                continue
            if verbose or action.get("exit") != 0:
                how = "timed out" if action.get("timed_out") else f"exit {action.get('exit')}"
                stream.write(
                    f"    command `{action.get('command')}`: {how}{_took(action.get('duration'))}\n"
                )
    stream.write(f"{doc.get('stage')}: {'failed' if failed(doc) else 'done'}, {_counts(doc)}\n")
    _write_slowest(doc, stream)


def _write_slowest(doc: dict[str, Any], stream: TextIO) -> None:
    steps = [s for s in doc["steps"] if isinstance(s.get("duration"), (int, float))]
    commands = [
        (a, s)
        for s in doc["steps"]
        for a in s.get("actions") or []
        if a.get("kind") == "command" and isinstance(a.get("duration"), (int, float))
    ]
    if steps:
        stream.write("slowest steps:\n")
        for step in sorted(steps, key=lambda s: -s["duration"])[:SLOWEST]:
            stream.write(f"  {step['duration']:8.3f}s  {step.get('full_name')}\n")
    if commands:
        stream.write("slowest commands:\n")
        for action, step in sorted(commands, key=lambda c: -c[0]["duration"])[:SLOWEST]:
            stream.write(
                f"  {action['duration']:8.3f}s  {action.get('command')}"
                f"  ({step.get('full_name')})\n"
            )


def _counts(doc: dict[str, Any]) -> str:
    summary = doc.get("summary") or {}
    parts = [f"{n} {status}" for status, n in summary.items() if n]
    errors = len(doc.get("errors") or [])
    if errors:
        parts.append(f"{errors} config error{'' if errors == 1 else 's'}")
    return ", ".join(parts) or "no steps"


def _when(doc: dict[str, Any]) -> str:
    if not doc.get("started"):
        return ""
    took = f", took {doc['duration']:.3f}s" if isinstance(doc.get("duration"), (int, float)) else ""
    return f" (started {doc['started']}{took})"


def _took(seconds: object) -> str:
    return f" [{seconds:.3f}s]" if isinstance(seconds, (int, float)) else ""


def warnings_shown(root: Root) -> set[tuple[object, ...]]:
    """The warnings the kept reports of this boot hold (/run is a tmpfs: one boot).

    A real run prints a document's warnings once per boot, not at every
    stage; the reports keep them all. A report that cannot be read hides nothing.
    """
    shown: set[tuple[object, ...]] = set()
    try:
        names = report_names(root)
    except StatusError:
        return shown
    for name in names:
        try:
            doc = read_report(root, name)
        except StatusError:
            continue
        for warning in doc.get("warnings") or []:
            if isinstance(warning, dict):
                shown.add(warning_key(warning))
    return shown


def warning_key(problem: dict[str, object]) -> tuple[object, ...]:
    return tuple(problem.get(k) for k in ("source", "line", "column", "path", "message"))
