"""Command line: the only place that turns outcomes into exit codes.

stage-executor run-stage STAGE [SOURCE ...]
stage-executor apply -s STAGE SOURCE ...
stage-executor validate [SOURCE ...]
stage-executor analyze STAGE [SOURCE ...]
stage-executor schema
"""

from __future__ import annotations

import os
import sys
import time

from executor import __version__
from executor.context import RunContext
from executor.engine import (
    LoadedGroup,
    Report,
    WhatIfs,
    load_groups,
    run_stages,
    strict_problem,
)
from executor.errors import ExecutorError, Problem
from executor.fastargs import parse_common
from executor.lock import DEFAULT_WAIT, run_lock
from executor.log import DEBUG, WARNING, line_buffer_output, log
from executor.root import DryRunRoot, Root
from executor.runner import DEFAULT_TIMEOUT
from executor.sources import (
    DEFAULT_DIRS,
    STDIN,
    URL_TIMEOUT,
    SourceGroup,
    read_cmdline_sources,
    read_root_dir,
    read_source_arg,
)

TYPE_CHECKING = False  # mypy reads it as True; importing `typing` would cost start-up
if TYPE_CHECKING:
    import argparse  # at run time only when parse_common declines (help, errors)
    from collections.abc import Sequence

COMMANDS = ("run-stage", "apply", "validate", "analyze", "schema", "status")
REPORT_DIR = "/run/stage-executor"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_EXIT_HELP = "exit codes: 0 success; 1 a step failed or a source was invalid; 2 usage error"
RUNS = ("run-stage", "apply")
READERS = ("run-stage", "apply", "validate", "analyze")  # commands that read sources

# Which commands each option means something to (by argparse dest). An option
# given to another command would be silently ignored, so it is a usage error
# (check_options); the per-command help lists only these.
OPTION_COMMANDS: dict[str, tuple[str, ...]] = {
    "stage": ("apply",),
    "root": (*READERS, "status"),
    "dry_run": READERS,  # validate and analyze never write: --dry-run agrees with them
    "json": (*READERS, "status"),
    "marker": RUNS,
    "cmdline": RUNS,
    "timeout": READERS,  # validate and analyze fetch URL sources with it
    "lock_timeout": RUNS,
    "fail_fast": RUNS,
    "strict": READERS,
    "no_cmdline": READERS,
    "show_secrets": RUNS,
    "verbose": COMMANDS,
}
# Option values that mean "not given" besides None, False and [].
_UNSET: dict[str, object] = {"root": "/", "timeout": DEFAULT_TIMEOUT, "lock_timeout": DEFAULT_WAIT}


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(message)

    p = _Parser(
        prog="stage-executor",
        description="Run yip/Kairos cloud-config stages in a root, for real or as a dry-run.",
        epilog="`stage-executor COMMAND --help` shows a command's options and examples.\n"
        + DEFAULT_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", choices=COMMANDS, help="what to do")
    p.add_argument("args", nargs="*", help="STAGE and/or SOURCE arguments")
    p.add_argument("-s", "--stage", help="stage for `apply`")
    p.add_argument("--root", default="/", help="directory treated as / (default: /)")
    p.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    p.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    p.add_argument(
        "--marker",
        action="append",
        default=[],
        metavar="NAME",
        help="condition what-if: /run/cos/NAME exists (repeatable)",
    )
    p.add_argument("--cmdline", metavar="TEXT", help="condition what-if: /proc/cmdline content")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"limit per command and shell condition (default {DEFAULT_TIMEOUT:.0f})",
    )
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="how long a real run waits for another one on the same root"
        f" (default {DEFAULT_WAIT:.0f}; dry-runs take no lock)",
    )
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed step")
    p.add_argument("--strict", action="store_true", help="warnings count as errors")
    p.add_argument(
        "--no-cmdline", action="store_true", help="do not read sources from /proc/cmdline"
    )
    p.add_argument(
        "--show-secrets",
        action="store_true",
        help="dry-run diffs show the content of files others may not read",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show conditions and output")
    p.add_argument("--version", action="version", version=f"stage-executor {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if a in COMMANDS), None)
    try:
        if command and ("-h" in args_list or "--help" in args_list):
            from executor.usage_help import command_help  # help only

            sys.stdout.write(command_help(command))
            return EXIT_OK
        args = parse_common(args_list)  # a boot's plain command line, without argparse
        if args is None:
            args = build_parser().parse_intermixed_args(args_list)
        return dispatch(args)
    except UsageError as exc:
        where = f"stage-executor {command} --help" if command else "stage-executor --help"
        sys.stderr.write(f"stage-executor: {exc}\nTry '{where}'.\n")
        return EXIT_USAGE
    except ExecutorError as exc:
        sys.stderr.write(f"stage-executor: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def option_given(args: argparse.Namespace, dest: str) -> bool:
    value = getattr(args, dest, None)
    return value not in (None, False, []) and value != _UNSET.get(dest)


def option_flag(dest: str) -> str:
    return {"stage": "-s/--stage", "verbose": "-v/--verbose"}.get(
        dest, "--" + dest.replace("_", "-")
    )


def check_options(args: argparse.Namespace) -> None:
    """Usage errors the parser cannot see: options the command would ignore, what-ifs.

    Takes the parsed namespace, so it holds whichever parser produced it.
    """
    for dest, commands in OPTION_COMMANDS.items():
        if args.command not in commands and option_given(args, dest):
            raise UsageError(
                f"{option_flag(dest)} does not apply to `{args.command}`"
                f" (it is an option of {', '.join(commands)})"
            )
    if args.command == "schema" and args.args:
        raise UsageError(f"`schema` takes no arguments (got {' '.join(args.args)})")
    if option_given(args, "show_secrets") and not args.dry_run:
        raise UsageError(
            "--show-secrets only makes sense with --dry-run (a real run shows no content)"
        )
    what_ifs = [option_flag(d) for d in ("marker", "cmdline") if option_given(args, d)]
    if what_ifs and not args.dry_run:
        # SPEC §4: what-ifs are for a dry-run's conditions; on a real run they
        # would make a boot act on a marker or command line the node does not have
        verb = "makes" if len(what_ifs) == 1 else "make"
        raise UsageError(
            f"{' and '.join(what_ifs)} only {verb} sense with --dry-run"
            " (they pretend, for conditions, on a run that changes nothing)"
        )


def check_stage(stage: str, stages: list[str], groups: list[LoadedGroup]) -> None:
    """A stage nobody knows and no source has is a typo: a usage error with a hint.

    Known: the stages yip and Kairos run (validate.KNOWN_STAGES) and every stage
    named in a loaded source. `stages` are the substages the command runs.
    """
    from executor.validate import KNOWN_STAGES

    in_sources = {name for g in groups for c in g.configs for name in c.stages}
    if stage in KNOWN_STAGES or in_sources.intersection(stages):
        return
    known = sorted(KNOWN_STAGES | in_sources)
    raise UsageError(
        f"unknown stage `{stage}`: no source has it and yip/Kairos do not"
        f" run it{_stage_hint(stage, known)}"
    )


def _stage_hint(stage: str, known: list[str]) -> str:
    import difflib  # only on the error path

    same_case = [k for k in known if k.lower() == stage.lower()]
    close = same_case or difflib.get_close_matches(stage, known, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def dispatch(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    check_options(args)
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.lock_timeout < 0:
        raise UsageError("--lock-timeout must not be negative")
    if args.command == "schema":
        return cmd_schema(args)
    if args.command == "status":
        return cmd_status(args)
    if args.command == "validate":
        return cmd_validate(args, args.args)
    if args.command == "apply":
        if not args.stage:
            raise UsageError("apply needs -s STAGE")
        if not args.args:
            raise UsageError("apply needs at least one SOURCE")
        return cmd_run(args, [args.stage], args.stage, args.args)
    if args.command == "run-stage":
        if not args.args:
            raise UsageError("run-stage needs a STAGE")
        stage, sources = args.args[0], args.args[1:]
        return cmd_run(args, substages(stage), stage, sources)
    if args.command == "analyze":
        if not args.args:
            raise UsageError("analyze needs a STAGE")
        return cmd_analyze(args, args.args[0], args.args[1:])
    raise UsageError(f"`{args.command}` is not available yet")


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from executor.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """The reports the runs of this boot kept in the root; exit 1 if one failed."""
    from executor import status

    if len(args.args) > 1:
        raise UsageError(f"status takes at most one STAGE (got {' '.join(args.args)})")
    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    root = DryRunRoot(args.root)  # reads only
    if args.args:
        stage = args.args[0]
        if stage not in status.report_names(root):
            kept = ", ".join(status.report_names(root)) or "none"
            raise status.StatusError(
                f"no report for stage {stage} in {root.path}{status.REPORT_DIR} (kept: {kept})"
            )
        doc = status.read_report(root, stage)
        if args.json:
            sys.stdout.write(json_dumps(doc))
        else:
            status.write_stage(doc, sys.stdout, verbose=args.verbose)
        return EXIT_FAILED if status.failed(doc) else EXIT_OK
    docs = status.read_reports(root)
    if args.json:
        sys.stdout.write(status.overview_json(root, docs))
    else:
        status.write_overview(root, docs, sys.stdout)
    return EXIT_FAILED if any(status.failed(d) for d in docs) else EXIT_OK


def json_dumps(doc: object) -> str:
    import json

    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def cmd_validate(args: argparse.Namespace, sources: list[str]) -> int:
    """Check every source as a run would, print every problem, run nothing."""
    from executor.report import validation_json, write_validation
    from executor.sourcecheck import check_sources

    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    root = DryRunRoot(args.root)  # reads only; a dry-run Root cannot write anyway
    read = collect_sources(root, sources, args)
    # units are looked for only in a root named with --root: on a workstation
    # the host's units say nothing about the node's
    units_in = root if option_given(args, "root") else None
    problems = check_sources(read, strict=args.strict, root=units_in)
    documents = [doc.source or doc.name for group in read for doc in group.documents]
    if args.json:
        sys.stdout.write(validation_json(root.path, documents, problems))
    else:
        write_validation(problems, len(documents), sys.stdout)
    return EXIT_FAILED if any(p.severity == "error" for p in problems) else EXIT_OK


def make_root(args: argparse.Namespace) -> Root:
    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    return DryRunRoot(args.root) if args.dry_run else Root(args.root)


def substages(stage: str) -> list[str]:
    """What `run-stage STAGE` runs, in order (kairos-agent)."""
    return [f"{stage}.before", stage, f"{stage}.after"]


def collect_sources(
    root: Root, sources: list[str], args: argparse.Namespace | None = None
) -> list[SourceGroup]:
    """SOURCE arguments (else the default dirs in the root), then the command line's.

    The sources of the kernel command line come from the root's /proc/cmdline
    unless `--no-cmdline`; `--cmdline TEXT` is a what-if for conditions only
    (SPEC §4), so it does not add sources.
    """
    if sources.count(STDIN) > 1:
        raise UsageError("`-` (stdin) can be given only once")
    timeout = min(args.timeout, URL_TIMEOUT) if args is not None else URL_TIMEOUT
    if sources:
        groups = [read_source_arg(s, timeout=timeout) for s in sources]
    else:
        groups = [read_root_dir(root, d) for d in DEFAULT_DIRS]
    if args is not None and not args.no_cmdline:
        groups += read_cmdline_sources(root, timeout=timeout)
    return groups


def cmd_run(args: argparse.Namespace, stages: list[str], stage_arg: str, sources: list[str]) -> int:
    root = make_root(args)
    if root.dry_run:  # writes nothing, so takes no lock (see executor/lock.py)
        return run_in_root(args, root, stages, stage_arg, sources)
    with run_lock(root, wait=args.lock_timeout):
        return run_in_root(args, root, stages, stage_arg, sources)


def run_in_root(
    args: argparse.Namespace, root: Root, stages: list[str], stage_arg: str, sources: list[str]
) -> int:
    ctx = RunContext(
        root=root,
        markers=tuple(args.marker),
        cmdline=args.cmdline,
        timeout=args.timeout,
        fail_fast=args.fail_fast,
        verbose=args.verbose,
    )
    report = Report(args.command, stage_arg, root.path, root.dry_run)
    report.what_ifs = WhatIfs(tuple(args.marker), args.cmdline)
    report.started = time.time()
    try:
        read = collect_sources(root, sources, args)
        report.sources = [doc.source or doc.name for group in read for doc in group.documents]
        groups, problems = load_groups(read, strict=args.strict)
        if not any(p.severity == "error" for p in problems):  # else it may be in a bad one
            check_stage(stage_arg, stages, groups)
        report.problems += problems
        run_stages(ctx, report, stages, groups)
        report.problems = _strict(report.problems, args.strict)
        report.finished = time.time()
        shown = _warnings_shown_this_boot(root, report, args)
        if not root.dry_run:
            _keep_report(root, report, stage_arg)
    finally:
        root.sync()  # the directory entries of the run's writes, once each
    _print(report, args, hide_warnings=shown)
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_analyze(args: argparse.Namespace, stage: str, sources: list[str]) -> int:
    """The order `run-stage STAGE` would use; no condition is evaluated, nothing written."""
    from executor.analyze import Analysis, dumps_analysis, write_analysis
    from executor.order import plan_run

    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    root = DryRunRoot(args.root)  # reads only; a dry-run Root cannot write anyway
    groups, problems = load_groups(collect_sources(root, sources, args), strict=args.strict)
    if not any(p.severity == "error" for p in problems):
        check_stage(stage, substages(stage), groups)
    plan = plan_run(groups, substages(stage))
    analysis = Analysis(stage, root.path, plan, _strict(problems + plan.problems, args.strict))
    if args.json:
        sys.stdout.write(dumps_analysis(analysis))
    else:
        write_analysis(analysis, sys.stdout, verbose=args.verbose)
    return EXIT_FAILED if analysis.errors else EXIT_OK


def _strict(problems: list[Problem], strict: bool) -> list[Problem]:
    return [strict_problem(p, strict) for p in problems]


def _keep_report(root: Root, report: Report, stage: str) -> None:
    """Write the JSON report into the root, so the node keeps what the boot did."""
    from executor.report import dumps

    path = f"{REPORT_DIR}/{stage}.json"
    uid, gid = os.geteuid(), os.getegid()
    try:
        for directory in ("/run", REPORT_DIR):
            if root.lookup(directory) is None:
                root.make_dir(directory, mode=0o755, uid=uid, gid=gid)
        root.write_file(path, dumps(report).encode(), mode=0o600, uid=uid, gid=gid)
    except ExecutorError as exc:
        log.warning("cannot keep the report at %s: %s", path, exc)


def _warnings_shown_this_boot(
    root: Root, report: Report, args: argparse.Namespace
) -> frozenset[tuple[object, ...]]:
    """Warnings a real run of this boot already printed (the kept reports hold them).

    Read before this run's report replaces its stage's, and only when there
    is a warning to print: most runs have none and skip the JSON reading.
    """
    if root.dry_run or args.json or not report.warnings:
        return frozenset()
    from executor.status import warnings_shown

    return frozenset(warnings_shown(root))


def _print(
    report: Report,
    args: argparse.Namespace,
    hide_warnings: frozenset[tuple[object, ...]] = frozenset(),
) -> None:
    from executor.report import dumps, write_human

    if args.json:
        sys.stdout.write(dumps(report, pretty=sys.stdout.isatty()))
    else:
        write_human(
            report,
            sys.stdout,
            verbose=args.verbose,
            show_secrets=getattr(args, "show_secrets", False),
            hide_warnings=hide_warnings,
        )


def _setup_logging(verbose: bool) -> None:
    log.level = DEBUG if verbose else WARNING
    line_buffer_output()
