"""Operator mistakes on the command line: exit 2 with a message that says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import make_tree

STEP = "stages:\n  {stage}:\n  - files: [{{path: /etc/{name}, content: x}}]\n"


def _run(root: Path, *args: str) -> int:
    return main([*args, "--root", str(root), "--no-cmdline"])


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["run-stage", "initramfs.afer"], "did you mean `initramfs.after`?"),
        (["apply", "-s", "Initramfs", "SRC"], "did you mean `initramfs`?"),
        (["run-stage", "netwrok"], "did you mean `network`?"),
        (["apply", "-s", "my-stgae", "SRC"], "did you mean `my-stage`?"),  # from the source
        (["analyze", "bot"], "did you mean `boot`?"),
        (["run-stage", "kairos-instal.pre"], "did you mean `kairos-install.pre`?"),
    ],
)
def test_a_misspelled_stage_is_a_usage_error_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], hint: str
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": STEP.format(stage="my-stage", name="a"),
        },
    )
    args = [str(root / "oem") if a == "SRC" else a for a in args]
    assert _run(root, *args) == 2
    err = capsys.readouterr().err
    assert "unknown stage" in err
    assert hint in err
    assert not (root / "etc").exists()
    assert not list(root.glob("run/stage-executor/*.json"))  # no report for a usage error


@pytest.mark.parametrize(
    "args",
    [
        ["run-stage", "network"],  # known, nothing to do: not an error
        ["apply", "-s", "my-stage", "SRC"],  # only the sources know it
        ["run-stage", "my-stage"],  # run-stage of a custom stage
        ["run-stage", "after-install-chroot"],
        ["run-stage", "kairos-uki-install.pre"],  # kairos-agent's hooks
        ["apply", "-s", "kairos-reset.after.before", "SRC"],
    ],
)
def test_known_stages_and_those_of_the_sources_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    root = make_tree(tmp_path / "root", {"/oem/a.yaml": STEP.format(stage="my-stage", name="a")})
    args = [str(root / "oem") if a == "SRC" else a for a in args]
    assert _run(root, *args) == 0
    capsys.readouterr()


def test_a_stage_only_in_an_invalid_source_is_its_error_not_a_typo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": "stages:\n  my-stage:\n  - files: [{path: /etc/a, mode: x}]\n  - [\n",
        },
    )
    assert _run(root, "run-stage", "my-stage") == 1
    assert "unknown stage" not in capsys.readouterr().err


@pytest.mark.parametrize("what_if", [["--marker", "live_mode"], ["--cmdline", "rd.neednet=1"]])
@pytest.mark.parametrize("command", [["run-stage", "boot"], ["apply", "-s", "boot", "SRC"]])
def test_what_ifs_are_refused_on_a_real_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what_if: list[str], command: list[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": "stages:\n  boot:\n  - if: '[ -e /run/cos/live_mode ]'\n"
            "    files: [{path: /etc/live, content: x}]\n",
        },
    )
    command = [str(root / "oem") if a == "SRC" else a for a in command]
    assert _run(root, *command, *what_if) == 2
    err = capsys.readouterr().err
    assert f"{what_if[0]} only makes sense with --dry-run" in err
    assert not (root / "etc").exists()


def test_what_ifs_are_recorded_in_the_dry_run_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": "stages:\n  boot:\n  - if: '[ -e /run/cos/live_mode ]'\n"
            "    files: [{path: /etc/live, content: x}]\n",
        },
    )
    args = ["run-stage", "boot", "--dry-run", "--marker", "live_mode", "--cmdline", "quiet"]
    assert _run(root, *args, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["what_ifs"] == {"markers": ["live_mode"], "cmdline": "quiet"}
    assert [s["status"] for s in doc["steps"]] == ["planned"]
    assert _run(root, *args) == 0
    out = capsys.readouterr().out
    assert "what-if: /run/cos/live_mode exists, /proc/cmdline is 'quiet'" in out
    # without what-ifs the report says so too
    assert _run(root, "run-stage", "boot", "--dry-run", "--json") == 0
    assert json.loads(capsys.readouterr().out)["what_ifs"] == {"markers": [], "cmdline": None}


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["validate", "--marker", "x"], "--marker"),
        (["analyze", "boot", "--cmdline", "x"], "--cmdline"),
        (["validate", "--fail-fast"], "--fail-fast"),
        (["run-stage", "boot", "-s", "boot"], "-s/--stage"),
        (["validate", "-s", "boot"], "-s/--stage"),
        (["analyze", "boot", "--lock-timeout", "3"], "--lock-timeout"),
    ],
)
def test_an_option_the_command_would_ignore_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    (tmp_path / "root").mkdir()
    assert _run(tmp_path / "root", *args) == 2
    assert f"{flag} does not apply to `{args[0]}`" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--strict", "--json", "--dry-run"])
def test_schema_takes_no_options(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert main(["schema", flag]) == 2
    assert f"{flag} does not apply to `schema`" in capsys.readouterr().err


def test_schema_takes_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "boot"]) == 2
    assert "`schema` takes no arguments" in capsys.readouterr().err


# -- per-command help ----------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["run-stage", "apply", "validate", "analyze", "schema", "status"]
)
def test_each_command_has_its_own_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    from executor.cli import OPTION_COMMANDS, option_flag

    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: stage-executor {command}")
    assert "examples:\n  stage-executor " in out and "exit codes: 0 " in out
    # exactly the options the command accepts
    for dest, commands in OPTION_COMMANDS.items():
        flag = option_flag(dest).split("/")[-1]
        assert (flag in out) == (command in commands), (command, flag)


def test_help_after_other_arguments_and_the_global_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", "-s", "boot", "x.yaml", "-h"]) == 0
    assert capsys.readouterr().out.startswith("usage: stage-executor apply -s STAGE")
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "`stage-executor COMMAND --help`" in capsys.readouterr().out


def test_a_usage_error_points_at_the_command_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--fail-fast", "--root", str(tmp_path)]) == 2
    assert "Try 'stage-executor validate --help'." in capsys.readouterr().err


# -- failed commands -----------------------------------------------------------------


@pytest.mark.subprocess
def test_a_failed_command_is_logged_pasteably_and_127_says_not_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shlex

    from tests.test_order import _root_with_shell

    root = _root_with_shell(
        make_tree(
            tmp_path / "root",
            {
                "/oem/a.yaml": "stages:\n  boot:\n  - commands:\n"
                "    - \"no-such-tool --flag 'a b'\"\n"
                "    - 'echo \"it is\"; exit 3'\n",
            },
        )
    )
    assert _run(root, "run-stage", "boot", "--json") == 1
    captured = capsys.readouterr()
    step = json.loads(captured.out)["steps"][0]
    assert (
        "`no-such-tool --flag 'a b'` failed: exit status 127: command not found" in step["reason"]
    )
    assert '`echo "it is"; exit 3` failed: exit status 3' in step["reason"]
    line = shlex.join(["chroot", str(root), "/bin/sh", "-c", 'echo "it is"; exit 3'])
    assert f"warning: failed (exit status 3): {line}\n" in captured.err
    # the line really is pasteable: the shell splits it back into the same argv
    logged = captured.err.split("failed (exit status 3): ", 1)[1].splitlines()[0]
    assert shlex.split(logged) == ["chroot", str(root), "/bin/sh", "-c", 'echo "it is"; exit 3']


@pytest.mark.subprocess
def test_a_root_without_a_shell_fails_the_step_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root (commands run chrooted into the root)")
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": "stages:\n  boot:\n  - name: cond\n    if: '[[ -e /x ]]'\n"
            "    files: [{path: /etc/c, content: c}]\n"
            "  - name: cmd\n    commands: [true]\n",
        },
    )
    assert _run(root, "run-stage", "boot", "--json") == 1
    steps = {s["name"]: s for s in json.loads(capsys.readouterr().out)["steps"]}
    # not "false" and not "command not found": the shell itself is missing
    assert steps["cond"]["status"] == "failed"
    assert "cannot start /bin/sh: No such file or directory" in steps["cond"]["reason"]
    assert "`true` failed: cannot start /bin/sh" in steps["cmd"]["reason"]
    assert not (root / "etc/c").exists()
