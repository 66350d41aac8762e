"""validate finds what the run would reject."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import make_tree


def _validate(root: Path, *args: str) -> int:
    return main(["validate", *args, "--root", str(root), "--no-cmdline"])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("files: [{path: etc/rel, content: x}]", "`etc/rel` is not an absolute path"),
        ("directories: [{path: var/rel}]", "`var/rel` is not an absolute path"),
    ],
)
def test_a_relative_path_is_an_error_in_validate_as_in_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str, message: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    src = tmp_path / "c.yaml"
    src.write_text(f"stages:\n  boot:\n  - {entry}\n")
    assert _validate(root, str(src)) == 1
    assert f"error: {message}" in capsys.readouterr().out
    # the run agrees: nothing of the document runs
    assert main(["apply", "-s", "boot", str(src), "--root", str(root), "--no-cmdline"]) == 1
    assert not (root / "etc").exists() and not (root / "var").exists()


def test_dot_dot_in_a_path_is_a_warning_naming_the_path_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    src = tmp_path / "c.yaml"
    src.write_text("stages:\n  boot:\n  - files: [{path: /etc/../../x, content: x}]\n")
    assert _validate(root, str(src)) == 0
    out = capsys.readouterr().out
    assert (
        "warning: `..` in `/etc/../../x`: it cannot leave the root, so the path written"
        " is `/x`" in out
    )
    # and it is where the run writes
    assert main(["apply", "-s", "boot", str(src), "--root", str(root), "--no-cmdline"]) == 0
    assert (root / "x").read_text() == "x"


def test_a_unit_to_enable_that_the_root_lacks_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/usr/lib/systemd/system/there.service": "[Install]\nWantedBy=multi-user.target\n",
            "/usr/lib/systemd/system/getty@.service": "[Install]\nWantedBy=getty.target\n",
        },
    )
    src = tmp_path / "c.yaml"
    src.write_text(
        "stages:\n  boot:\n  - systemctl: {enable: [nosuch, there, getty@tty1, mine]}\n"
        "  - files: [{path: /etc/systemd/system/mine.service,"
        ' content: "[Install]\\nWantedBy=multi-user.target\\n"}]\n'
    )
    assert _validate(root, str(src), "--json") == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert [(w["path"], w["line"]) for w in warnings] == [("stages.boot[0].systemctl.enable[0]", 3)]
    assert "unit nosuch.service is not in" in warnings[0]["message"]
    assert _validate(root, str(src), "--strict") == 1
    capsys.readouterr()
    # without --root, the host's units would say nothing about the node's
    assert main(["validate", str(src), "--no-cmdline", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []
    # the run: the step fails on that unit
    args = ["apply", "-s", "boot", str(src), "--root", str(root), "--no-cmdline", "--json"]
    assert main(args) == 1
    step = json.loads(capsys.readouterr().out)["steps"][0]
    assert step["status"] == "failed" and "nosuch.service does not exist" in step["reason"]


def test_a_directory_with_no_yaml_is_a_warning_and_v_names_what_was_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    src = make_tree(tmp_path / "src", {"a.yml.bak": "stages: {}\n", "sub/notes.txt": "x"})
    assert _validate(root, str(src)) == 0
    captured = capsys.readouterr()
    assert f"{src}: warning: 0 documents: no *.yaml or *.yml file" in captured.out
    assert "skipped" not in captured.err  # named with -v only
    assert _validate(root, str(src), "-v") == 0
    err = capsys.readouterr().err
    assert f"{src}/a.yml.bak: skipped: not named *.yaml or *.yml" in err
    assert f"{src}/sub/notes.txt: skipped: not named *.yaml or *.yml" in err


def test_the_default_dirs_of_a_root_are_read_with_v_naming_skipped_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path / "root", {"/oem/90_custom.yam": "stages: {}\n"})
    assert _validate(root, "-v") == 0
    assert "/oem/90_custom.yam: skipped: not named *.yaml or *.yml" in capsys.readouterr().err


def test_an_empty_cos_setup_directory_is_a_warning_an_empty_oem_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/notes.txt": "x",
            "/srv/setup/README": "x",
            "/proc/cmdline": "cos.setup=/srv/setup\n",
        },
    )
    assert main(["validate", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "/srv/setup: warning: 0 documents" in out
    assert "/oem: warning" not in out
