"""What a step did not do is shown, with why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import make_tree

SOURCE = """name: c
stages:
  boot:
  - name: start
    systemctl: {start: [foo]}
  - name: sysctl
    sysctl: {vm.swappiness: "10"}
  - name: noinstall
    systemctl: {enable: [static]}
  - name: mixed
    files: [{path: /etc/q, content: x}]
    systemctl: {start: [foo]}
  - name: kept
    files: [{path: /etc/kept, content: k}]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "root",
        {
            "/usr/bin/systemctl": "",
            "/usr/lib/systemd/system/static.service": "[Unit]\nDescription=no install\n",
            "/etc/kept": "k",
            "/oem/c.yaml": SOURCE,
        },
    )


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_step_whose_every_action_was_skipped_is_skipped(
    root: Path, capsys: pytest.CaptureFixture[str], dry_run: bool
) -> None:
    args = ["apply", "-s", "boot", str(root / "oem"), "--root", str(root), "--no-cmdline"]
    assert main([*args, "--json", *(["--dry-run"] if dry_run else [])]) == 0
    steps = {s["name"]: s for s in json.loads(capsys.readouterr().out)["steps"]}
    assert steps["start"]["status"] == "skipped"
    assert steps["start"]["reason"] == "every action was skipped"
    assert "start needs the running service manager" in steps["start"]["actions"][0]["detail"]
    assert steps["sysctl"]["status"] == "skipped"
    assert steps["noinstall"]["status"] == "skipped"
    assert "nothing to enable" in steps["noinstall"]["actions"][0]["detail"]
    # a step that did something is applied/planned even if part of it was skipped
    assert steps["mixed"]["status"] == ("planned" if dry_run else "applied")
    # kept as it is: the root already is what the step wants
    assert steps["kept"]["status"] == "unchanged"
    # the JSON says which actions were not done; a kept one has no such key
    assert steps["start"]["actions"][0]["skipped"] is True
    assert [a.get("skipped") for a in steps["kept"]["actions"]] == [None]


def test_skipped_actions_are_shown_with_their_reason_without_v(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["apply", "-s", "boot", str(root / "oem"), "--root", str(root), "--no-cmdline"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "- skipped [boot] c.start (every action was skipped)\n    skip unit foo.service"
        " `systemctl start foo` (skipped: start needs the running service manager" in out
    )
    assert "    skip sysctl /proc/sys/vm/swappiness `sysctl vm.swappiness=10` (skipped:" in out
    assert "    skip unit (static: no installation config" in out
    mixed = out[out.index("c.mixed") : out.index("c.kept")]
    assert "skip unit foo.service `systemctl start foo`" in mixed
    # a kept file is not listed without -v
    assert "= unchanged [boot] c.kept\n" in out
    assert "keep file /etc/kept" not in out


def test_a_multi_line_condition_is_shown_on_the_step_line_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": "name: c\nstages:\n  boot:\n  - name: s\n    if: |\n"
            "      [ -e /x ] &&\n        [ -e /y ]\n    files: [{path: /a}]\n",
        },
    )
    assert main(["run-stage", "boot", "--root", str(root), "--no-cmdline", "--dry-run"]) == 0
    assert (
        "- skipped [boot] c.s (if: `[ -e /x ] && [ -e /y ]` is false (native))\n"
        in capsys.readouterr().out
    )


EVERY_SKIP = """name: s
stages:
  boot:
  - name: units
    systemctl:
      enable: [withaux]
      disable: [masked]
      overrides: [{service: foo, content: ""}]
  - name: kernel
    hostname: node1
    modules: [dummy]
  - name: keys
    authorized_keys: {root: ["github:someone"]}
  - name: ds
    datasource: {providers: [cdrom]}
  - name: groups
    users: {bob: {groups: [nosuchgroup]}}
"""


def test_each_module_says_itself_whether_an_action_was_skipped_or_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Skipped (not done) or kept (already as wanted) is set by the module that
    decides it, for every kind of skip, not read from the wording of `detail`."""
    root = make_tree(
        tmp_path / "root",
        {
            "/usr/bin/systemctl": "",
            "/usr/lib/systemd/system/withaux.service": (
                "[Install]\nWantedBy=multi-user.target\nAlso=missing-aux.service\n"
            ),
            "/usr/lib/systemd/system/masked.service": "[Install]\nWantedBy=multi-user.target\n",
            "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "/etc/group": "root:x:0:\n",
            "/oem/s.yaml": EVERY_SKIP,
        },
    )
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/masked.service").symlink_to("/dev/null")
    args = ["apply", "-s", "boot", str(root / "oem"), "--root", str(root), "--no-cmdline"]
    main([*args, "--dry-run", "-v"])
    lines = capsys.readouterr().out.splitlines()

    def verb_of(detail: str) -> str:
        found = [line.split()[0] for line in lines if detail in line]
        assert len(found) == 1, (detail, found)
        return found[0]

    for not_done in (
        "override skipped: empty content",
        "(Also=) not enabled",
        "is masked (/etc/systemd/system/masked.service): nothing disabled",
        "the root has no /etc/hosts to update",
        "the running kernel's name is set only when the root is /",
        "modules load into the running kernel",
        "github:someone is fetched only on the running system",
        "not asked in a dry-run: cdrom",
    ):
        assert verb_of(not_done) == "skip", not_done
    # the user is made, but does not join a group the root lacks
    assert verb_of("bob: groups not in the root's /etc/group: nosuchgroup") == "skip"


def test_whether_an_action_is_skipped_does_not_depend_on_its_wording() -> None:
    from executor.actions import NONE, Action, Note
    from executor.report import describe_action

    assert describe_action(Action("unit", "", NONE, detail="skipped? no: a remark")).startswith(
        "keep"
    )
    assert describe_action(Note("refused by the root", skipped=True).action("unit")).startswith(
        "skip"
    )
    assert not Note("a remark").action("unit").skipped
