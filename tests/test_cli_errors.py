"""Bad input: FILE:LINE:COL, exit 1, no traceback, other sources still run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import make_tree

GOOD = """name: good
stages:
  boot:
    - files:
        - path: /etc/good
          content: ok
"""


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("stages:\n  boot:\n    - files: [\n", 3, 15, "YAML syntax"),  # not past the end
        (
            "stages:\n  boot:\n    - files:\n        - path: /x\n          permissions: [1]\n",
            5,
            24,
            "expected a file mode",
        ),
        ("stages:\n  boot:\n    - commands: yes-please\n", 3, 17, "expected a list"),
        ("stages:\n  boot:\n    - files:\n        - content: x\n", 4, 11, "missing required key"),
    ],
)
def test_bad_source_is_positioned_and_does_not_stop_the_others(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    line: int,
    column: int,
    fragment: str,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    srcs = make_tree(tmp_path / "src", {"a-bad.yaml": text, "b-good.yaml": GOOD})
    assert main(["apply", "-s", "boot", "--root", str(root), str(srcs)]) == 1
    out = capsys.readouterr().out
    bad = srcs / "a-bad.yaml"
    assert f"{bad}:{line}:{column}: error:" in out
    assert fragment in out
    assert (root / "etc/good").read_text() == "ok"


def test_bad_step_content_in_a_file_runs_none_of_its_steps(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    src = make_tree(
        tmp_path,
        {
            "c.yaml": """stages:
  boot:
    - files:
        - path: /etc/first
          content: x
    - files:
        - path: /etc/second
          permissions: 99999
"""
        },
    )
    assert main(["apply", "-s", "boot", "--root", str(root), str(src / "c.yaml")]) == 1
    assert not (root / "etc").exists()


@pytest.mark.subprocess
def test_no_traceback_and_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "executor",
            "apply",
            "-s",
            "boot",
            "--root",
            str(tmp_path),
            str(bad),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{bad}:1:10: error: YAML syntax" in done.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "executor", "apply"], capture_output=True, text=True
    )
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr


@pytest.mark.parametrize(
    ("entry", "module", "message"),
    [
        ('hostname: "bad name"', "hostname", "host name 'bad name' contains ' '"),
        ('environment: {"1BAD": "x"}', "environment", "'1BAD' is not a valid variable name"),
        ('timesyncd: {"NTP": "a\\nb"}', "timesyncd", "NTP='a\\nb' is not a valid setting"),
        ('users: {"Bad Name": {}}', "users", "'Bad Name' is not a valid user name"),
        (
            'downloads: [{url: "ftp://x/y", path: /tmp/y}]',
            "downloads",
            "'ftp://x/y' is not an http(s) URL",
        ),
        (
            'authorized_keys: {nobody: ["ssh-rsa AAA"]}',
            "authorized_keys",
            "user 'nobody' is not in the root's /etc/passwd",
        ),
        (
            'files: [{path: /etc/x, content: "{{ .Values.nosuch.deeper }}"}]',
            "files",
            "/etc/x: content: template 1:4: .Values.nosuch has no value,"
            " so .Values.nosuch.deeper cannot be read",
        ),
        (
            'hostname: "{{ .Values.nosuch.deeper }}"',
            "hostname",
            "host name: template 1:4: .Values has no value,"
            " so .Values.nosuch.deeper cannot be read",
        ),
        (
            'systemd_firstboot: {timezone: "Nowhere/City"}',
            "systemd_firstboot",
            "timezone 'Nowhere/City' is not in the root's /usr/share/zoneinfo",
        ),
    ],
)
def test_a_failed_module_is_named_once_before_its_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str, module: str, message: str
) -> None:
    """The engine puts the module's name before what failed; the module does not repeat it."""
    root = make_tree(
        tmp_path / "root",
        {"/usr/bin/systemctl": "", "/oem/s.yaml": f"name: t\nstages:\n  boot:\n  - {entry}\n"},
    )
    code = main(["apply", "-s", "boot", str(root / "oem"), "--root", str(root), "--dry-run"])
    assert code == 1
    out = capsys.readouterr().out
    assert f"failed [boot] t.0 ({module}: {message})\n" in out
    assert f"({module}: {module}" not in out
