"""`analyze STAGE` (SPEC §6): the order `run-stage STAGE` uses, shown
without evaluating anything; checked against what a dry-run really does.

The fixture is written here in the style of the configs Kairos ships in
/system/oem (named configs, steps named in prose, unnamed steps, repeated
names, anchors and merge keys, `if` on /run/cos markers with line
continuations, `only_service_manager`, files/directories/commands/systemctl
and modules this executor does not implement), plus `after:` across files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from executor.cli import main
from tests.conftest import REPO, make_tree

KAIROS_STYLE = {
    "/system/oem/00_layout.yaml": """name: "Image layout"
stages:
  initramfs.before:
    - &bind_state
      name: "Bind state paths"
      if: '[ ! -f "/run/cos/recovery_mode" ]'
      environment_file: /run/cos/layout.env
      environment:
        STATE_PATHS: "/etc/ssh /var/lib"
  rootfs:
    - <<: *bind_state
  initramfs:
    - name: "Create journal directory"
      if: '[ -d /var/log ] && [ ! -d /var/log/journal ]'
      directories:
        - path: /var/log/journal
          permissions: 0755
    - name: "Keep machine-id"
      only_service_manager: "systemd"
      if: |
        [ ! -f /run/cos/recovery_mode ] && \\
        [ -s /usr/local/etc/machine-id ]
      commands:
        - cp /usr/local/etc/machine-id /etc/machine-id
""",
    "/system/oem/05_network.yaml": """name: "Default network"
stages:
  initramfs:
    - name: "DHCP everywhere"
      only_service_manager: "systemd"
      files:
        - path: /etc/systemd/network/20-dhcp.network
          permissions: 0644
          content: |
            [Match]
            Name=en*
            [Network]
            DHCP=yes
    - name: "Enable networkd"
      only_service_manager: "systemd"
      systemctl:
        enable:
          - systemd-networkd
""",
    "/system/oem/10_accounts.yaml": """name: "Accounts"
stages:
  initramfs:
    - name: "Setup groups"
      ensure_entities:
        - entity: |
            kind: "group"
            group_name: "admin"
            password: "x"
            gid: 900
    - name: "Runtime permissions"
      if: '[ -e /run/cos/live_mode ]'
      directories:
        - path: /run/app
          permissions: 0700
    - name: "Runtime permissions"
      commands:
        - chmod 0755 /run
  initramfs.after:
    - name: "Serial login"
      only_service_manager: "openrc"
      commands:
        - rc-update add agetty.ttyS0 default
""",
    "/system/oem/20_agent.yaml": """name: "Agent"
stages:
  initramfs:
    - files:
        - path: /etc/agent/env
          content: AGENT=1
    - name: "Wait for the network files"
      after:
        - name: "Default network.Enable networkd"
      if: command -v agent >/dev/null
      commands:
        - agent setup
""",
    "/system/oem/30_hosts.yaml": """stages:
  initramfs:
    - name: "Persistent hosts"
      files:
        - path: /etc/hosts
          content: "127.0.0.1 localhost\\n"
""",
}

# The layers by hand from yip's rules (order.py's docstring).
EXPECTED = (
    "initramfs.before:\n"
    "  source /system/oem:\n"
    "     1. Image layout.Bind state paths  /system/oem/00_layout.yaml:4:7\n"
    "initramfs:\n"
    "  source /system/oem:\n"
    "     1. Image layout.Create journal directory       /system/oem/00_layout.yaml:13:7\n"
    "     2. Image layout.Keep machine-id                /system/oem/00_layout.yaml:18:7\n"
    "     3. Default network.DHCP everywhere             /system/oem/05_network.yaml:4:7\n"
    "     4. Default network.Enable networkd             /system/oem/05_network.yaml:14:7\n"
    "     5. Accounts.Setup groups.0                     /system/oem/10_accounts.yaml:4:7\n"
    "     6. Accounts.Runtime permissions.1              /system/oem/10_accounts.yaml:11:7\n"
    "     7. Accounts.Runtime permissions.2              /system/oem/10_accounts.yaml:16:7\n"
    "     8. Agent.0                                     /system/oem/20_agent.yaml:4:7\n"
    "        Agent.Wait for the network files            /system/oem/20_agent.yaml:7:7"
    "  after Default network.Enable networkd\n"
    "     9. /system/oem/30_hosts.yaml.Persistent hosts  /system/oem/30_hosts.yaml:3:7\n"
    "initramfs.after:\n"
    "  source /system/oem:\n"
    "     1. Accounts.Serial login  /system/oem/10_accounts.yaml:20:7\n"
    "analyze initramfs: 12 steps in 11 layers (conditions not evaluated)\n"
)


@pytest.fixture
def kairos_root(tmp_path: Path) -> Path:
    extra: dict[str, str | None] = {"/run/cos": None, "/usr/bin/systemctl": ""}
    return make_tree(tmp_path / "root", {**KAIROS_STYLE, **extra})


def test_analyze_prints_the_layers(kairos_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `if: command -v ...` needs a shell: analyze must not start one (conftest
    # fails any test that starts a process without saying so).
    assert main(["analyze", "initramfs", "--root", str(kairos_root), "--no-cmdline"]) == 0
    assert capsys.readouterr().out == EXPECTED


def test_analyze_json(kairos_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "initramfs", "--root", str(kairos_root), "--no-cmdline", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["command"], doc["stage"], doc["errors"]) == ("analyze", "initramfs", [])
    assert [s["stage"] for s in doc["stages"]] == [
        "initramfs.before",
        "initramfs",
        "initramfs.after",
    ]
    layers = doc["stages"][1]["sources"][0]["layers"]
    waits = layers[7][1]
    assert waits == {
        "name": "Agent.Wait for the network files",
        "step": "Wait for the network files",
        "source": "/system/oem/20_agent.yaml",
        "line": 7,
        "column": 7,
        "after": ["Default network.Enable networkd"],
        # `after` replaces only the dependency on the previous step of its file
        "depends_on": [
            "Accounts.Setup groups.0",
            "Accounts.Runtime permissions.1",
            "Accounts.Runtime permissions.2",
            "Default network.Enable networkd",
        ],
        "if": "command -v agent >/dev/null",
    }
    assert layers[7][0]["depends_on"] == [
        "Accounts.Setup groups.0",
        "Accounts.Runtime permissions.1",
        "Accounts.Runtime permissions.2",
    ]


def _flat(analysis: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (stage["stage"], step["name"])
        for stage in analysis["stages"]
        for source in stage["sources"]
        for layer in source["layers"]
        for step in layer
    ]


@pytest.mark.subprocess  # the `command -v` condition goes to /bin/sh on a real run
def test_a_run_follows_the_analyzed_order(
    kairos_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["initramfs", "--root", str(kairos_root), "--no-cmdline", "--json"]
    main(["analyze", *args])
    analysis = json.loads(capsys.readouterr().out)
    main(["run-stage", *args, "--dry-run"])
    run = json.loads(capsys.readouterr().out)
    assert [(s["stage"], s["full_name"]) for s in run["steps"]] == _flat(analysis)
    assert run["errors"] == []


def test_analyze_reports_a_cycle_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The trap of `after:` to a later file: the step after it in its own file
    # waits for it, and the later file waits for that one.
    root = make_tree(
        tmp_path,
        {
            "/oem/10_a.yaml": (
                "name: a\nstages:\n  boot:\n  - name: first\n    after: [{name: b.only}]\n"
                "  - name: second\n"
            ),
            "/oem/20_b.yaml": "name: b\nstages:\n  boot:\n  - name: only\n",
        },
    )
    assert main(["analyze", "boot", "--root", str(root), "--no-cmdline"]) == 1
    out = capsys.readouterr().out
    assert (
        "/oem/10_a.yaml:5:20: error: cycle in the step order: a.first -> a.second -> b.only"
        " -> a.first" in out
    )
    assert "boot:\n  (no steps)\n" in out
    assert "1 errors" not in out and "3 errors" in out


def test_analyze_needs_a_stage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze"]) == 2


# -- the README shows real output -------------------------------------------------------


README_FILES = {
    "/oem/10_base.yaml": """name: base
stages:
  initramfs:
    - name: dirs
      directories: [{path: /var/lib/app, permissions: 0755}]
    - name: config
      files: [{path: /etc/app.conf, content: "port=80\\n"}]
""",
    "/oem/20_app.yaml": """name: app
stages:
  initramfs:
    - name: enable
      systemctl: {enable: [app.service]}
    - name: migrate
      after: [{name: tools.install}]
      commands: [/usr/bin/app-migrate]
""",
    "/oem/30_tools.yaml": """name: tools
stages:
  initramfs:
    - name: install
      files: [{path: /usr/bin/app-migrate, permissions: 0755, content: "#!/bin/sh\\n"}]
""",
    "/oem/40_site.yaml": """stages:
  initramfs:
    - files: [{path: /etc/motd, content: "hello\\n"}]
""",
}


def test_the_readme_shows_real_analyze_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (REPO / "README.md").read_text()
    for path, text in README_FILES.items():
        assert f"# {path}\n{text}" in readme, f"README does not show {path} as tested"
    block = re.search(r"\n\$ (stage-executor analyze [^\n]*)\n(.*?)```", readme, re.S)
    assert block is not None
    command, shown = block.group(1), block.group(2)
    root = make_tree(tmp_path / "root", README_FILES)
    argv = command.split()[1:]
    argv[argv.index("/tmp/root")] = str(root)
    assert main(argv) == 0
    assert capsys.readouterr().out == shown
