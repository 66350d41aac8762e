"""Per-command help: `stage-executor COMMAND --help`.

Usage, what the command does, its options, examples and exit codes. The
options are the main parser's own (cli.build_parser), filtered by
cli.OPTION_COMMANDS, so the help cannot list an option the command refuses,
or miss one. Imported only when help is asked for.
"""

from __future__ import annotations

import argparse

# Per-command help: usage, what it does, examples. Options come from the
# parser (those OPTION_COMMANDS gives the command); exit codes are shared.
COMMAND_HELP: dict[str, tuple[str, str, str]] = {
    "run-stage": (
        "stage-executor run-stage STAGE [SOURCE ...] [options]",
        "Run STAGE.before, STAGE and STAGE.after, each over all sources (Kairos semantics).\n"
        "Without SOURCE: /system/oem, /oem, /usr/local/cloud-config in the root, then\n"
        "the root's /proc/cmdline. A real run keeps its report in\n"
        "/run/stage-executor/STAGE.json (see `stage-executor status`).",
        "  stage-executor run-stage initramfs\n"
        "  stage-executor run-stage boot --root /tmp/root --dry-run --marker live_mode\n"
        "  stage-executor run-stage network /oem/90_custom.yaml --json",
    ),
    "apply": (
        "stage-executor apply -s STAGE SOURCE ... [options]",
        "Run exactly STAGE over the given sources (yip semantics).",
        "  stage-executor apply -s initramfs.after configs/sysext-opt.yaml --root /tmp/root"
        " --dry-run\n"
        "  cat cfg.yaml | stage-executor apply -s boot -",
    ),
    "validate": (
        "stage-executor validate [SOURCE ...] [options]",
        "Check every source as a run would, print every problem as FILE:LINE:COLUMN;\n"
        "run nothing. With --root, also what the root must provide (units to enable).",
        "  stage-executor validate /oem\n"
        "  stage-executor validate --root /tmp/root --strict --json",
    ),
    "analyze": (
        "stage-executor analyze STAGE [SOURCE ...] [options]",
        "Print the order `run-stage STAGE` would use (the DAG's layers); evaluate nothing.",
        "  stage-executor analyze initramfs --root /tmp/root -v",
    ),
    "schema": (
        "stage-executor schema",
        "Print the JSON Schema of the config format (for editors).",
        "  stage-executor schema > ~/.config/stage-executor.schema.json",
    ),
    "status": (
        "stage-executor status [STAGE] [options]",
        "What the runs of this boot did, from the reports kept in /run/stage-executor:\n"
        "one line per stage, or with STAGE its steps, reasons, durations and the\n"
        "slowest steps and commands (-v: every command).",
        "  stage-executor status\n"
        "  stage-executor status initramfs\n"
        "  stage-executor status boot --json",
    ),
}
EXIT_HELP = {
    "status": "exit codes: 0 no kept report shows a failure; 1 one does (or no report for\n"
    "STAGE); 2 usage error",
    "validate": "exit codes: 0 no error (warnings allowed, unless --strict); 1 an error;\n"
    "2 usage error",
}


def command_help(command: str) -> str:
    """`stage-executor COMMAND --help`: usage, description, its options, examples, exit codes.

    The options are the main parser's own actions, filtered by OPTION_COMMANDS,
    so the help cannot list an option the command refuses, or miss one.
    """
    from executor.cli import DEFAULT_EXIT_HELP, OPTION_COMMANDS, build_parser

    usage, description, examples = COMMAND_HELP[command]
    sub = argparse.ArgumentParser(
        prog=f"stage-executor {command}",
        usage=usage,
        description=description,
        epilog=f"examples:\n{examples}\n\n{EXIT_HELP.get(command, DEFAULT_EXIT_HELP)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for action in build_parser()._actions:  # argparse has no public list of them
        if action.dest in OPTION_COMMANDS and command in OPTION_COMMANDS[action.dest]:
            sub._add_action(action)
    return sub.format_help()
