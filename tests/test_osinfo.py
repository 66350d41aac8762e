"""One os-release reader for every consumer, held to the shell that os-release(5)
says must be able to source the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.conditions import check_step
from executor.context import RunContext
from executor.model import Step
from executor.modules.templating import system_values
from executor.osinfo import GO_ARCH, go_arch, parse_os_release
from executor.root import Root
from tests.modhelp import tree

EDGE = 'NAME="Kairos"\nPRETTY_NAME="Kairos \\"edge\\" \\$1"\nID=kairos\nVERSION_ID=\'3.2\'\n'


def _double_quoted(value: str) -> str:
    return '"' + "".join("\\" + c if c in '\\$"`' else c for c in value) + '"'


def _sourced_by_dash(path: Path, key: str) -> str:
    script = f'. "{path}"; printf %s "${key}"'
    return subprocess.run(["dash", "-c", script], capture_output=True, text=True, check=True).stdout


@pytest.mark.subprocess
@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20))
def test_double_quoted_values_read_as_dash_sources_them(
    tmp_path_factory: pytest.TempPathFactory, value: str
) -> None:
    path = tmp_path_factory.mktemp("osr") / "os-release"
    path.write_text(f"PRETTY_NAME={_double_quoted(value)}\n")
    assert parse_os_release(path.read_text())["PRETTY_NAME"] == _sourced_by_dash(
        path, "PRETTY_NAME"
    )


@pytest.mark.subprocess
def test_single_quotes_and_comments_read_as_dash_sources_them(tmp_path: Path) -> None:
    path = tmp_path / "os-release"
    path.write_text("# a comment\nID='a \\\" b'\nVERSION_ID=3\n")
    parsed = parse_os_release(path.read_text())
    assert parsed["ID"] == _sourced_by_dash(path, "ID")
    assert parsed["VERSION_ID"] == _sourced_by_dash(path, "VERSION_ID")


def test_filter_and_template_read_the_same_name(tmp_path: Path) -> None:
    root_dir = tree(tmp_path / "r", {"/etc/os-release": EDGE})
    ctx = RunContext(root=Root(str(root_dir)))
    assert system_values(ctx.root)["os"] == {
        "name": 'Kairos "edge" $1',
        "vendor": "kairos",
        "version": "3.2",
        "release": "3.2",
    }
    matching = Step(stage="boot", index=0, only_os='^Kairos "edge" \\$1$')
    assert check_step(ctx, matching).run is True
    escaped = Step(stage="boot", index=0, only_os='edge\\\\"')
    assert check_step(ctx, escaped).run is False


def test_usr_lib_os_release_is_the_fallback(tmp_path: Path) -> None:
    root_dir = tree(tmp_path / "r", {"/usr/lib/os-release": "ID=fallback\n"})
    assert system_values(Root(str(root_dir)))["os"] == {"vendor": "fallback"}


def test_every_arm_spelling_has_one_goarch() -> None:
    assert go_arch("armv6l") == go_arch("armv7l") == "arm"
    assert go_arch("x86_64") == "amd64"
    assert go_arch("mips") == "mips"
    assert set(GO_ARCH.values()) >= {"amd64", "arm64", "arm", "386"}
