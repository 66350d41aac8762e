"""What an operator sees: step lines, colour rules, -v, dry-run diffs, the report
kept on the node, and the "still running" line of a long command."""

from __future__ import annotations

import io
import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from executor import runner
from executor.actions import CREATE, NONE, RUN, UPDATE, Action
from executor.cli import main
from executor.conditions import ConditionResult
from executor.engine import Report, StepReport
from executor.log import DEBUG, WARNING, log
from executor.report import use_colour, write_human
from tests.conftest import SEED, make_tree


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def sample_report(*, dry_run: bool = False) -> Report:
    report = Report("run-stage", "boot", "/r", dry_run)
    native = ConditionResult("[ -e /run/cos/live_mode ]", True, "native")
    report.steps = [
        StepReport(
            "boot",
            "/a.yaml",
            "one",
            "a.one",
            "applied",
            condition=native,
            actions=[Action("file", "/etc/one", CREATE, 0o644, 0, 0)],
        ),
        StepReport(
            "boot",
            "/a.yaml",
            "two",
            "a.two",
            "unchanged",
            actions=[Action("file", "/etc/two", NONE, 0o644, 0, 0)],
        ),
        StepReport(
            "boot",
            "/a.yaml",
            "three",
            "a.three",
            "skipped",
            reason="if: `[ -e /x ]` is false (native)",
            condition=ConditionResult("[ -e /x ]", False, "native"),
        ),
        StepReport(
            "boot",
            "/a.yaml",
            "four",
            "a.four",
            "failed",
            reason="commands: `false` failed: exit status 1",
            actions=[
                Action("command", command="false", change=RUN, exit=1, output="it went wrong\n")
            ],
        ),
        StepReport(
            "boot",
            "/a.yaml",
            "five",
            "a.five",
            "undecided",
            reason="condition undecided: outside the native subset",
            condition=ConditionResult(
                '[ -n "$X" ]', None, "none", "outside the native subset (`$` expansion)"
            ),
        ),
        StepReport(
            "boot",
            "/a.yaml",
            "six",
            "a.six",
            "applied",
            actions=[Action("command", command="echo hi", change=RUN, exit=0, output="hi\n")],
        ),
    ]
    return report


def test_one_line_per_step_with_its_mark_and_reason() -> None:
    out = io.StringIO()
    write_human(sample_report(), out)
    assert out.getvalue() == textwrap.dedent("""\
        ✓ applied [boot] a.one
            create file /etc/one mode 0644 owner 0:0
        = unchanged [boot] a.two
        - skipped [boot] a.three (if: `[ -e /x ]` is false (native))
        ✗ failed [boot] a.four (commands: `false` failed: exit status 1)
            run command `false` exit 1
            | it went wrong
        ? undecided [boot] a.five (condition undecided: outside the native subset)
        ✓ applied [boot] a.six
            run command `echo hi` exit 0
        run-stage boot: 2 applied, 1 unchanged, 1 skipped, 1 failed, 1 undecided
        """)


def test_verbose_shows_conditions_unchanged_actions_and_all_output() -> None:
    out = io.StringIO()
    write_human(sample_report(), out, verbose=True)
    text = out.getvalue()
    assert "    if: [ -e /run/cos/live_mode ] -> true (evaluated natively)\n" in text
    assert "    no condition\n" in text  # a.two has none
    assert "    keep file /etc/two mode 0644 owner 0:0\n" in text
    assert (
        '    if: [ -n "$X" ] -> undecided (not evaluated):'
        " outside the native subset (`$` expansion)\n"
    ) in text
    assert "    | hi\n" in text  # a successful command's output, only with -v
    quiet = io.StringIO()
    write_human(sample_report(), quiet)
    assert "| hi" not in quiet.getvalue()


def test_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    tty = Tty()
    write_human(sample_report(), tty)
    assert "\033[32m✓ applied\033[0m [boot] a.one" in tty.getvalue()
    assert "\033[31m✗ failed\033[0m" in tty.getvalue()
    plain = io.StringIO()
    write_human(sample_report(), plain)
    assert "\033[" not in plain.getvalue()


@pytest.mark.parametrize(
    ("env", "colour"),
    [
        ({"NO_COLOR": "1"}, False),
        ({"NO_COLOR": "yes please"}, False),
        ({"NO_COLOR": ""}, True),  # no-color.org: present *and not empty*
        ({"TERM": "dumb"}, False),
        ({}, True),
    ],
)
def test_no_color_and_dumb_terminals(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], colour: bool
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert use_colour(Tty()) is colour
    out = Tty()
    write_human(sample_report(), out)
    assert ("\033[" in out.getvalue()) is colour


def test_validate_colours_the_severity_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from executor.errors import Problem
    from executor.report import write_validation

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = Tty()
    write_validation([Problem("error", "/a.yaml", 3, 5, "stages.boot[0]", "bad")], 1, out)
    assert out.getvalue() == (
        "/a.yaml:3:5: \033[31merror\033[0m: bad (stages.boot[0])\n"
        "validate: 1 error, 0 warnings in 1 document\n"
    )


def test_dry_run_shows_a_unified_diff_of_changed_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path / "root", {"/etc/motd": "hello\nold line\n"})
    src = tmp_path / "motd.yaml"
    src.write_text(
        textwrap.dedent("""\
        name: motd
        stages:
          boot:
            - name: banner
              files:
                - path: /etc/motd
                  permissions: 0644
                  content: |
                    hello
                    new line
        """)
    )
    assert main(["apply", "-s", "boot", "--root", str(root), "--dry-run", str(src)]) == 0
    assert capsys.readouterr().out == textwrap.dedent("""\
        + planned [boot] motd.banner
            update file /etc/motd mode 0644 owner 0:0
            --- a/etc/motd
            +++ b/etc/motd
            @@ -1,2 +1,2 @@
             hello
            -old line
            +new line
        apply boot: 1 planned (dry-run)
        """)
    assert (root / "etc/motd").read_text() == "hello\nold line\n"


def test_binary_content_is_summarised_not_diffed() -> None:
    report = Report("apply", "boot", "/r", True)
    report.steps = [
        StepReport(
            "boot",
            "/a",
            "b",
            "a.b",
            "planned",
            actions=[
                Action("file", "/bin/blob", UPDATE, 0o755, 0, 0, data=b"\0\1\2", old=b"\0\1"),
            ],
        )
    ]
    out = io.StringIO()
    write_human(report, out)
    assert "    binary content: 2 -> 3 bytes\n" in out.getvalue()


# -- the report kept on the node -------------------------------------------------------


def test_real_apply_keeps_its_report_in_the_root(
    seed_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["apply", "-s", "initramfs.after", "--root", str(seed_root), "--json", str(SEED)]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    kept_path = seed_root / "run/stage-executor/initramfs.after.json"
    kept = json.loads(kept_path.read_text())
    assert kept == printed
    assert kept["command"] == "apply" and kept["stage"] == "initramfs.after"
    assert kept["dry_run"] is False
    assert [s["status"] for s in kept["steps"]] == ["skipped", "applied", "applied", "applied"]
    assert kept["summary"]["applied"] == 3
    assert stat.S_IMODE(kept_path.stat().st_mode) == 0o600  # commands' output may be private


def test_run_stage_report_holds_its_three_substages(
    seed_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = seed_root.parent / "stages.yaml"
    src.write_text(
        textwrap.dedent("""\
        name: s
        stages:
          initramfs.before: [{name: b, directories: [{path: /var/b}]}]
          initramfs: [{name: m, directories: [{path: /var/m}]}]
          initramfs.after: [{name: a, directories: [{path: /var/a}]}]
        """)
    )
    assert main(["run-stage", "initramfs", "--root", str(seed_root), str(src)]) == 0
    capsys.readouterr()
    kept = json.loads((seed_root / "run/stage-executor/initramfs.json").read_text())
    assert [(s["stage"], s["full_name"]) for s in kept["steps"]] == [
        ("initramfs.before", "s.b"),
        ("initramfs", "s.m"),
        ("initramfs.after", "s.a"),
    ]


def test_invalid_sources_are_in_the_kept_report_too(
    seed_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srcs = make_tree(
        tmp_path / "srcs",
        {
            "a.yaml": "stages:\n  boot:\n    - files:\n        - path: /etc/a\n          mode: 1\n",
            "b.yaml": 'stages:\n  boot:\n    - commands: ["echo {{ .x"]\n',
        },
    )
    assert main(["apply", "-s", "boot", "--root", str(seed_root), str(srcs)]) == 1
    capsys.readouterr()
    kept = json.loads((seed_root / "run/stage-executor/boot.json").read_text())
    assert [(e["line"], e["column"], e["path"]) for e in kept["errors"]] == [
        (3, 24, "stages.boot[0].commands[0]"),  # the `{{` inside the string
    ]
    assert [(w["line"], w["path"]) for w in kept["warnings"]] == [
        (5, "stages.boot[0].files[0].mode"),
    ]
    # a.yaml has only a warning: it ran; b.yaml is invalid: none of its steps ran.
    assert (seed_root / "etc/a").exists()
    assert [s["source"] for s in kept["steps"]] == [str(srcs / "a.yaml")]


def test_dry_run_keeps_no_report(seed_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["apply", "-s", "initramfs.after", "--root", str(seed_root), "--dry-run", str(SEED)])
        == 0
    )
    assert not (seed_root / "run/stage-executor").exists()


def test_strict_run_does_not_run_a_document_with_warnings(
    seed_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "w.yaml"
    src.write_text("stages:\n  boot:\n    - directories: [{path: /var/w, permissions: 755}]\n")
    assert main(["apply", "-s", "boot", "--root", str(seed_root), "--strict", str(src)]) == 1
    assert not (seed_root / "var/w").exists()
    assert f"{src}:3:49: error: mode 755 is a decimal number" in capsys.readouterr().out
    assert main(["apply", "-s", "boot", "--root", str(seed_root), str(src)]) == 0
    assert stat.S_IMODE((seed_root / "var/w").stat().st_mode) == 0o363  # 755 & 0o777, as yip


def test_after_cycle_drops_both_files_and_the_others_run(
    seed_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srcs = make_tree(
        tmp_path / "srcs",
        {
            "a.yaml": "name: a\nstages:\n  boot:\n    - {name: x, after: [{name: b.y}],"
            " directories: [{path: /var/a}]}\n",
            "b.yaml": "name: b\nstages:\n  boot:\n    - {name: y, after: [{name: a.x}],"
            " directories: [{path: /var/b}]}\n",
            "c.yaml": "name: c\nstages:\n  boot:\n    - {name: z, directories: [{path: /var/c}]}\n",
        },
    )
    assert main(["apply", "-s", "boot", "--root", str(seed_root), str(srcs)]) == 1
    out = capsys.readouterr().out
    assert out.count("error: cycle in the step order") == 2
    assert not (seed_root / "var/a").exists() and not (seed_root / "var/b").exists()
    assert (seed_root / "var/c").is_dir()


# -- a long command says it is still running --------------------------------------------


@pytest.mark.subprocess
def test_a_long_command_logs_still_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "PROGRESS_EVERY", 0.1)
    monkeypatch.setattr(log, "level", WARNING)
    done = runner.Runner().run(["sleep", "0.55"], timeout=30, label="sleep a while")
    assert done.ok
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "still running" in ln]
    assert 3 <= len(lines) <= 6
    assert all(ln.startswith("stage-executor: warning: still running") for ln in lines)
    assert all(ln.endswith(": sleep a while") for ln in lines)


@pytest.mark.subprocess
def test_a_quick_command_logs_nothing_about_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "PROGRESS_EVERY", 5.0)
    monkeypatch.setattr(log, "level", DEBUG)
    assert runner.Runner().run(["true"], timeout=30).ok
    err = capsys.readouterr().err
    assert "running: true" in err  # the debug line shows the logger was listening
    assert "still running" not in err


def test_report_json_uses_in_root_paths(
    seed_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "apply",
                "-s",
                "initramfs.after",
                "--root",
                str(seed_root),
                "--json",
                "--dry-run",
                str(SEED),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    doc = json.loads(text)
    paths = [a["path"] for s in doc["steps"] for a in s["actions"] if "path" in a]
    assert paths and all(p == "/etc" or p.startswith("/etc/") for p in paths)
    assert os.fspath(seed_root) not in json.dumps(doc["steps"])
