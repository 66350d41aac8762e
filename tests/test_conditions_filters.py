"""The step filters, each read inside the root, each skip naming what it saw."""

from __future__ import annotations

import os
import re
import socket
import struct
import types
from pathlib import Path

import pytest

from executor.conditions import check_step
from executor.conditions.filters import elf_machine, go_regex
from executor.context import RunContext
from executor.model import IfFiles, Step
from executor.osinfo import parse_os_release
from executor.root import Root
from tests.conftest import make_tree

UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nPRETTY_NAME="Ubuntu 24.04 LTS"\nVERSION_ID="24.04"\n'


def verdict(root: Path, **fields: object) -> tuple[bool | None, str]:
    ctx = RunContext(root=Root(str(root)))
    v = check_step(ctx, Step(stage="boot", index=0, **fields))  # type: ignore[arg-type]
    return v.run, v.reason


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "root",
        {
            "/etc/os-release": UBUNTU,
            "/usr/bin/systemctl": "",
            "/present": "",
            "/dir": None,
        },
    )


@pytest.mark.parametrize(
    ("spec", "runs", "reason"),
    [
        (IfFiles(any=("/missing", "/present")), True, ""),
        (IfFiles(any=("/missing", "/gone")), False, "if_files.any: none of /missing, /gone exists"),
        (IfFiles(all=("/present", "/dir")), True, ""),
        (IfFiles(all=("/present", "/missing")), False, "if_files.all: /missing missing"),
        (IfFiles(none=("/missing",)), True, ""),
        (IfFiles(none=("/missing", "/dir")), False, "if_files.none: /dir exists"),
        (IfFiles(any=("/present",), none=("/present",)), False, "if_files.none"),
    ],
)
def test_if_files(root: Path, spec: IfFiles, runs: bool, reason: str) -> None:
    run, why = verdict(root, if_files=spec)
    assert run is runs and why.startswith(reason)


def test_if_files_resolves_links_inside_the_root(root: Path) -> None:
    os.symlink("/present", root / "abs-link")
    os.symlink("/etc/hostname-not-here", root / "dangling")
    assert verdict(root, if_files=IfFiles(all=("/abs-link",)))[0] is True
    assert verdict(root, if_files=IfFiles(any=("/dangling",)))[0] is False


@pytest.mark.parametrize(
    ("binaries", "wanted", "runs", "reason"),
    [
        (["/usr/bin/systemctl"], "systemd", True, ""),
        (["/bin/systemctl"], "SystemD", True, ""),
        (["/sbin/openrc"], "openrc", True, ""),
        (["/usr/sbin/openrc"], "systemd", False, "systemd wanted, the root has openrc"),
        ([], "systemd", False, "neither systemctl nor openrc"),
        (["/usr/bin/systemctl", "/sbin/openrc"], "systemd", False, "both systemctl and openrc"),
        (["/usr/bin/systemctl"], "upstart", False, "'upstart' is not supported"),
    ],
)
def test_only_service_manager(
    tmp_path: Path, binaries: list[str], wanted: str, runs: bool, reason: str
) -> None:
    root = make_tree(tmp_path / "root", {b: "" for b in binaries} | {"/etc": None})
    run, why = verdict(root, only_service_manager=wanted)
    assert run is runs and reason in why
    if not runs:
        assert why.startswith("only_service_manager:")


@pytest.mark.parametrize(
    ("field", "pattern", "runs", "seen"),
    [
        ("only_os", "Ubuntu.*|Debian.*", True, ""),
        ("only_os", "^ubuntu$", True, ""),  # ID
        (
            "only_os",
            "Red.*Hat.*",
            False,
            "PRETTY_NAME='Ubuntu 24.04 LTS', NAME='Ubuntu', ID='ubuntu'",
        ),
        ("only_os_version", "^24\\.", True, ""),
        ("only_os_version", "^22\\.", False, "VERSION_ID='24.04'"),
        ("only_os", "(?=Ubuntu)", False, "invalid regex"),  # RE2 has no look-ahead
        ("only_os", "(U)\\1", False, "invalid regex"),
        ("only_os", "LTS\\z", True, ""),  # RE2's end of text
    ],
)
def test_os_filters(root: Path, field: str, pattern: str, runs: bool, seen: str) -> None:
    run, why = verdict(root, **{field: pattern})
    assert run is runs and seen in why
    if not runs:
        assert why.startswith(f"{field}:")


def test_os_release_falls_back_to_usr_lib(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", {"/usr/lib/os-release": 'ID="opensuse-leap"\n'})
    assert verdict(root, only_os="[Oo]pen[Ss][Uu][Ss][Ee]")[0] is True
    run, why = verdict(make_tree(tmp_path / "empty", {"/etc": None}), only_os="Ubuntu")
    assert run is False and why == "only_os: 'Ubuntu' does not match nothing"


def test_parse_os_release_quotes() -> None:
    parsed = parse_os_release('# c\nNAME="A \\"B\\""\nID=\'x\'\nBAD\n VERSION_ID = 1 \n')
    assert parsed == {"NAME": 'A "B"', "ID": "x", "VERSION_ID": "1"}


def elf_header(machine: int, *, little: bool = True) -> bytes:
    order = "<" if little else ">"
    return (
        b"\x7fELF"
        + bytes([2, 1 if little else 2, 1])
        + bytes(9)
        + struct.pack(order + "HH", 2, machine)
    )


def test_elf_machine() -> None:
    assert elf_machine(elf_header(0xB7)) == "aarch64"
    assert elf_machine(elf_header(0x3E)) == "x86_64"
    assert elf_machine(elf_header(0x15)) == "ppc64le"
    assert elf_machine(elf_header(0x15, little=False)) == "ppc64"
    assert elf_machine(b"#!/bin/sh\n") == ""


@pytest.mark.parametrize(
    ("pattern", "runs"),
    [
        ("arm64", True),
        ("aarch64", True),
        ("^arm64$|^aarch64$", True),
        ("amd64|x86_64", False),
    ],
)
def test_only_arch_of_an_image_root(tmp_path: Path, pattern: str, runs: bool) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin/sh").write_bytes(elf_header(0xB7) + bytes(100))
    run, why = verdict(root, only_arch=pattern)
    assert run is runs
    if not runs:
        assert why == f"only_arch: {pattern!r} does not match GOARCH='arm64', uname -m='aarch64'"


def test_only_arch_of_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.SimpleNamespace(machine="x86_64", nodename="host")
    monkeypatch.setattr(os, "uname", lambda: fake)
    assert verdict(Path("/"), only_arch="amd64")[0] is True
    assert verdict(Path("/"), only_arch="^x86_64$")[0] is True
    run, why = verdict(Path("/"), only_arch="arm")
    assert run is False and "GOARCH='amd64'" in why


def test_node_reads_the_roots_hostname(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", {"/etc/hostname": "# set by the installer\nedge-01\n"})
    assert verdict(root, node="^edge-")[0] is True
    run, why = verdict(root, node="^core-")
    assert run is False and why == (
        "node: '^core-' does not match hostname (from /etc/hostname)='edge-01'"
    )


def test_node_never_uses_the_live_hostname_for_another_root(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", {"/etc": None})
    run, why = verdict(root, node=".*")
    assert run is False and why == "node: '.*' does not match nothing"


def test_node_on_the_running_system_is_the_kernels_hostname(tmp_path: Path) -> None:
    """Root `/` (the initramfs chroot too): the running kernel's name, as yip's
    sysinfo reads it, whatever /etc/hostname says; the reason says which."""
    expected = socket.gethostname()
    assert verdict(Path("/"), node=f"^{re.escape(expected)}$")[0] is True
    run, why = verdict(Path("/"), node="^no-such-host$")
    assert run is False and why == (
        f"node: '^no-such-host$' does not match hostname (from the running kernel)={expected!r}"
    )


def test_one_reading_of_etc_hostname() -> None:
    """systemd's reading: the first line neither blank nor a comment, stripped."""
    from executor.hostnames import parse_etc_hostname

    assert parse_etc_hostname(b"# installer\n\n  edge-01  \nother\n") == "edge-01"
    assert parse_etc_hostname(b"#only a comment\n") == ""
    assert parse_etc_hostname(None) == ""


def test_go_regex_matches_search_semantics() -> None:
    assert go_regex("b").search("abc")
    assert go_regex("\\d").search("x1") and not go_regex("\\d").search("\u0661")  # ASCII classes
