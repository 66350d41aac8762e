"""`environment`: root before -> config -> root after, the shell as the oracle
for quoting, and the dry-run planning exactly what the real run does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from executor.modules.environment import format_line, merge_env, parse_env
from tests.conftest import have
from tests.modhelp import assert_dry_run_matches, run_config, tree

LAYOUT = """
stages:
  test:
    - name: layout
      environment_file: /run/cos/cos-layout.env
      environment:
        VOLUMES: "LABEL=COS_PERSISTENT:/usr/local"
        OVERLAY: "tmpfs:25%"
        RW_PATHS: "/var /etc /srv"
"""


def test_new_env_file_is_created_sorted_and_quoted(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/etc/os-release": "ID=kairos\n"})
    run = run_config(root, LAYOUT)
    assert run.statuses == ["applied"]
    env = root / "run/cos/cos-layout.env"
    assert env.read_text() == (
        'OVERLAY="tmpfs:25%"\nRW_PATHS="/var /etc /srv"\n'
        'VOLUMES="LABEL=COS_PERSISTENT:/usr/local"\n'
    )
    assert env.stat().st_mode & 0o777 == 0o644
    assert (root / "run/cos").stat().st_mode & 0o777 == 0o755


def test_existing_lines_are_kept_and_keys_replaced_in_place(tmp_path: Path) -> None:
    before = (
        "# written by the image\n"
        'export PATH="/usr/local/bin:$PATH"\n'
        "OVERLAY='old value'\n"
        "KEEP=unquoted # trailing comment\n"
        "OVERLAY=duplicate\n"
    )
    root = tree(tmp_path / "r", {"/etc/environment": before})
    os.chmod(root / "etc/environment", 0o600)
    run = run_config(
        root,
        """
stages:
  test:
    - environment:
        OVERLAY: "tmpfs:25%"
        NEW: "1"
""",
    )
    assert run.statuses == ["applied"], run.reasons()
    assert (root / "etc/environment").read_text() == (
        "# written by the image\n"
        'export PATH="/usr/local/bin:$PATH"\n'
        'OVERLAY="tmpfs:25%"\n'
        "KEEP=unquoted # trailing comment\n"
        "NEW=1\n"
    )
    assert (root / "etc/environment").stat().st_mode & 0o777 == 0o644  # as yip leaves it


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    assert run_config(root, LAYOUT).statuses == ["applied"]
    mtime = (root / "run/cos/cos-layout.env").stat().st_mtime_ns
    assert run_config(root, LAYOUT).statuses == ["unchanged"]
    assert (root / "run/cos/cos-layout.env").stat().st_mtime_ns == mtime


def test_an_unquoted_equal_value_is_left_as_written(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {"/etc/environment": "A=plain\nB='single quoted'\n"})
    run = run_config(root, "stages:\n  test:\n    - environment: {A: plain, B: single quoted}\n")
    assert run.statuses == ["unchanged"]


def test_values_are_templated_from_the_roots_facts(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "r",
        {"/etc/os-release": 'PRETTY_NAME="Kairos Test"\nID=kairos\n', "/etc/hostname": "node-7\n"},
    )
    run_config(
        root,
        """
stages:
  test:
    - environment:
        OS: "{{ .Values.os.name | lower }}"
        NODE: "{{ .Values.node.hostname }}"
""",
    )
    assert parse_env((root / "etc/environment").read_text()) == {
        "OS": "kairos test",
        "NODE": "node-7",
    }


def test_a_template_error_fails_the_step_and_writes_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    run = run_config(root, 'stages:\n  test:\n    - environment: {X: "{{ .Values.nope }}"}\n')
    assert run.statuses == ["failed"]
    assert "environment.X: template 1:4: .Values.nope has no value" in run.reasons()
    assert not (root / "etc/environment").exists()


def test_an_invalid_key_fails_the_step(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", {})
    run = run_config(root, 'stages:\n  test:\n    - environment: {"BAD KEY": x}\n')
    assert run.statuses == ["failed"] and "not a valid variable name" in run.reasons()


def test_dry_run_plans_exactly_what_the_real_run_does(tmp_path: Path) -> None:
    def build(base: Path) -> Path:
        return tree(base, {"/etc/environment": "# image\nKEEP=1\nOVERLAY=old\n"})

    dry, _ = assert_dry_run_matches(
        tmp_path,
        build,
        LAYOUT.replace(
            "environment_file: /run/cos/cos-layout.env", "environment_file: /etc/environment"
        ),
    )
    assert dry.statuses == ["planned"]


TRICKY = {
    "DOLLAR": "$HOME and ${PATH}",
    "QUOTES": "she said \"hi\" and 'bye'",
    "BACKSLASH": "C:\\path\\to",
    "BACKTICK": "`id`",
    "BANG": "wow!",
    "SPACES": "  padded  ",
    "NEWLINE": "line one\nline two",
    "HASH": "a # not a comment",
    "NUMBER": "0042",
    "EMPTY": "",
}


@pytest.mark.subprocess
@pytest.mark.skipif(not have("dash"), reason="dash is not installed")
def test_a_shell_sourcing_the_file_reads_back_every_value() -> None:
    text = merge_env("", TRICKY)
    script = ". /dev/stdin; " + "; ".join(f'printf "%s\\0" "${key}"' for key in TRICKY)
    # The file is read from stdin by `.`; the values are printed NUL-separated.
    done = subprocess.run(
        ["dash", "-c", script.replace("/dev/stdin", '"$0"'), "/dev/stdin"],
        input=text.encode(),
        capture_output=True,
        check=True,
    )
    values = done.stdout.decode().split("\0")[:-1]
    assert dict(zip(TRICKY, values, strict=True)) == TRICKY


def test_the_godotenv_reading_gives_back_every_value() -> None:
    assert parse_env(merge_env("", TRICKY)) == TRICKY


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("123", "K=123"),
        ("0042", 'K="0042"'),  # yip would write K=42: the value would change
        ("-1", 'K="-1"'),
        ("a$b", 'K="a\\$b"'),
    ],
)
def test_format_line(value: str, line: str) -> None:
    assert format_line("K", value) == line
