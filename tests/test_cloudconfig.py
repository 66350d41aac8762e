"""`#cloud-config` documents (SPEC §2): the cloud-init keys mapped into
steps as yip's loader_cloudinit.go does, plus the document's own `stages:`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from executor.cli import main
from executor.load import LoadResult, is_cloud_config, load_text
from executor.model import Step
from tests.conftest import make_tree


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#cloud-config\nhostname: x\n", True),
        ("#cloud-config  \r\nhostname: x\n", True),  # trailing blanks, DOS line end
        ("\n\n# a comment\n#cloud-config\n", True),  # yip skips blanks and comments
        ("\ufeff#cloud-config\n", True),
        ("#cloud-config-archive\n", False),
        ("  #cloud-config\n", False),  # not a header once indented
        ("name: x\n#cloud-config\n", False),  # a key came first
        ("#\n" * 10 + "#cloud-config\n", False),  # only the first ten lines count
        ("", False),
    ],
)
def test_header(text: str, expected: bool) -> None:
    assert is_cloud_config(text) is expected


CLOUD = """#cloud-config
hostname: node-{{ trunc 4 .MachineID }}
users:
  - name: kairos
    passwd: kairos
    groups: [admin]
    lock_passwd: false
    gid: "1000"
    ssh_authorized_keys:
      - ssh-ed25519 AAAA kairos@laptop
      - github:someone
  - name: ops
    shell: /bin/bash
ssh_authorized_keys:
  - ssh-rsa BBBB everyone
  - gitlab:team
write_files:
  - path: /etc/motd
    content: hello
    permissions: 644
    owner: root:root
  - path: /etc/secret
    encoding: b64
    content: c2VjcmV0
    permissions: "0600"
runcmd:
  - echo one
  - echo two
install:
  auto: true
stages:
  boot:
    - name: own step
      commands: [echo own]
  initramfs:
    - commands: [echo early]
"""


def load(text: str, source: str = "/oem/90_custom.yaml") -> LoadResult:
    return load_text(text, source, path=source)


def steps(result: LoadResult, stage: str) -> tuple[Step, ...]:
    assert result.config is not None
    return result.config.stages[stage]


def test_the_keys_become_steps_ahead_of_the_documents_own() -> None:
    result = load(CLOUD)
    assert result.ok and result.problems == []
    boot = steps(result, "boot")
    assert [(s.index, s.name) for s in boot] == [(0, ""), (1, "own step")]
    generated = boot[0]
    assert generated.commands == ("echo one", "echo two")
    assert [(f.path, f.permissions, f.owner_string, f.encoding) for f in generated.files] == [
        ("/etc/motd", 0o644, "root:root", ""),
        ("/etc/secret", 0o600, "", "b64"),
    ]
    assert generated.modules["users"] == {
        "kairos": {"name": "kairos", "passwd": "kairos", "groups": ["admin"], "lock_passwd": False},
        "ops": {"name": "ops", "shell": "/bin/bash"},
    }
    # each user's keys, then the global ones; github:/gitlab: keys wait for the network
    assert generated.modules["authorized_keys"] == {
        "kairos": ["ssh-ed25519 AAAA kairos@laptop", "ssh-rsa BBBB everyone"],
        "ops": ["ssh-rsa BBBB everyone"],
    }
    assert [dict(s.modules) for s in steps(result, "network")] == [
        {"authorized_keys": {"kairos": ["github:someone", "gitlab:team"], "ops": ["gitlab:team"]}}
    ]
    initramfs = steps(result, "initramfs")
    assert initramfs[0].modules == {"hostname": "node-{{ trunc 4 .MachineID }}"}
    assert (initramfs[1].index, initramfs[1].commands) == (1, ("echo early",))


def test_generated_steps_point_at_the_lines_they_came_from() -> None:
    result = load(CLOUD)
    boot = steps(result, "boot")
    assert boot[0].pos is not None and boot[0].pos.line == 26  # the `runcmd:` key
    assert boot[0].files[0].pos is not None and boot[0].files[0].pos.line == 18
    hostname = steps(result, "initramfs")[0]
    assert hostname.pos is not None and hostname.pos.line == 2


def test_global_keys_go_to_root_when_no_user_is_defined() -> None:
    result = load("#cloud-config\nssh_authorized_keys: [ssh-rsa K, github:me]\n")
    assert [dict(s.modules) for s in steps(result, "boot")] == [
        {"authorized_keys": {"root": ["ssh-rsa K"]}}
    ]
    assert [dict(s.modules) for s in steps(result, "network")] == [
        {"authorized_keys": {"root": ["github:me"]}}
    ]


def test_only_present_keys_make_steps() -> None:
    result = load("#cloud-config\nruncmd: [true]\n")
    assert result.config is not None
    assert list(result.config.stages) == ["boot"]


@pytest.mark.parametrize(
    ("value", "mode"),
    [("644", 0o644), ("0644", 0o644), ('"755"', 0o755), ("'0o600'", 0o600), ("0", 0)],
)
def test_write_files_permissions_are_octal_text(value: str, mode: int) -> None:
    # cloud-init and yip read permissions as an octal string: unquoted 644 is 0644
    result = load(f"#cloud-config\nwrite_files:\n- path: /x\n  permissions: {value}\n")
    assert result.ok, result.problems
    assert steps(result, "boot")[0].files[0].permissions == mode


def test_bad_permissions_are_positioned_and_nothing_of_the_file_runs() -> None:
    text = "#cloud-config\nwrite_files:\n- path: /x\n  permissions: rw-r--r--\nruncmd: [a]\n"
    result = load(text)
    assert not result.ok
    assert [p.format() for p in result.problems] == [
        "/oem/90_custom.yaml:4:16: error: invalid permissions 'rw-r--r--': expected octal"
        " like 0644 (write_files[0].permissions)"
    ]


def test_type_errors_in_the_keys_are_positioned() -> None:
    result = load("#cloud-config\nusers:\n- passwd: x\nruncmd: echo\n")
    assert sorted(p.format() for p in result.problems) == [
        "/oem/90_custom.yaml:3:3: error: missing required key `name` in cloud-config user"
        " (users[0].name)",
        "/oem/90_custom.yaml:4:9: error: expected a list, got a string 'echo' (runcmd)",
    ]


def test_unsupported_cloud_init_keys_are_named() -> None:
    result = load("#cloud-config\nwrite_files:\n- path: /x\n  append: true\n")
    assert result.ok
    assert [p.message for p in result.problems] == ["unknown key `append` in write_files entry"]


def test_errors_in_the_stages_part_are_reported_not_dropped() -> None:
    # yip parses the `stages:` part "optimistically" and drops it silently
    result = load("#cloud-config\nruncmd: [a]\nstages:\n  boot:\n  - commands: nope\n")
    assert not result.ok
    assert [p.format() for p in result.problems] == [
        "/oem/90_custom.yaml:5:15: error: expected a list, got a string 'nope'"
        " (stages.boot[0].commands)"
    ]


def test_without_the_header_the_keys_are_ignored_with_a_warning() -> None:
    result = load("runcmd: [echo hi]\nusers: not even a list\nstages:\n  boot:\n  - name: s\n")
    assert result.ok
    assert [p.format() for p in result.problems] == [
        "/oem/90_custom.yaml:1:1: warning: `runcmd` is read only in a #cloud-config document"
        " (make `#cloud-config` its first line); ignored (runcmd)",
        "/oem/90_custom.yaml:2:1: warning: `users` is read only in a #cloud-config document"
        " (make `#cloud-config` its first line); ignored (users)",
    ]
    assert [s.name for s in steps(result, "boot")] == ["s"]


def test_anchors_and_merge_keys_work_in_write_files() -> None:
    text = (
        "#cloud-config\nbase: &base {permissions: '0600', owner: 'nobody'}\n"
        "write_files:\n- <<: *base\n  path: /a\n- <<: *base\n  path: /b\n  permissions: '0640'\n"
    )
    result = load(text)
    assert result.ok, result.problems
    files = steps(result, "boot")[0].files
    assert [(f.path, f.permissions, f.owner_string) for f in files] == [
        ("/a", 0o600, "nobody"),
        ("/b", 0o640, "nobody"),
    ]


def test_a_cloud_config_in_oem_writes_its_files(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n",
            "/etc/group": "root:x:0:\nweb:x:33:\n",
            "/oem/90_custom.yaml": (
                "#cloud-config\nwrite_files:\n- path: /etc/site.conf\n  content: served\n"
                "  permissions: 640\n  owner: web:web\nstages:\n  boot:\n  - name: after it\n"
                "    if: '[ -e /etc/site.conf ]'\n    files: [{path: /etc/seen, content: y}]\n"
            ),
        },
    )
    assert main(["run-stage", "boot", "--root", str(root), "--no-cmdline"]) == 0
    st = os.stat(root / "etc/site.conf")
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 33, 33)
    assert (root / "etc/seen").read_text() == "y"
    kept: Any = json.loads((root / "run/stage-executor/boot.json").read_text())
    assert [s["full_name"] for s in kept["steps"]] == [
        "/oem/90_custom.yaml.0",
        "/oem/90_custom.yaml.after it",
    ]
