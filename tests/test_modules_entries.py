"""A bad entry of `files` or `directories` fails the step without stopping the
others (yip writes them one by one and reports the bad one)."""

from __future__ import annotations

from pathlib import Path

from tests.modhelp import assert_dry_run_matches, run_config, tree

CONFIG = """stages:
  test:
    - name: entries
      directories:
        - {path: /var/lib/first, permissions: 0750}
        - {path: /etc/hostname, permissions: 0755}
        - {path: /var/lib/last, permissions: 0700}
      files:
        - {path: /etc/first.conf, permissions: 0644, content: first}
        - {path: /etc/unknown.conf, permissions: 0600, owner_string: nosuchuser, content: x}
        - {path: /etc/last.conf, permissions: 0640, content: last}
"""


def build(root: Path) -> Path:
    return tree(
        root,
        {
            "/etc/hostname": "node\n",
            "/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
            "/etc/group": "root:x:0:\n",
            "/var/lib/.keep": "",
        },
    )


def test_the_other_entries_are_written_and_the_step_fails(tmp_path: Path) -> None:
    root = build(tmp_path / "r")
    run = run_config(root, CONFIG)
    assert run.statuses == ["failed"]
    reason = run.reasons()
    assert "directories: /etc/hostname: exists and is not a directory" in reason
    assert "files: /etc/unknown.conf:" in reason and "nosuchuser" in reason
    assert "first" not in reason and "last" not in reason
    assert (root / "var/lib/first").is_dir() and (root / "var/lib/last").is_dir()
    assert (root / "etc/first.conf").read_text() == "first"
    assert (root / "etc/last.conf").read_text() == "last"
    assert not (root / "etc/unknown.conf").exists()  # its owner is unknown: not written
    assert (root / "etc/hostname").read_text() == "node\n"


def test_a_dry_run_plans_the_same_entries(tmp_path: Path) -> None:
    dry, _ = assert_dry_run_matches(tmp_path, build, CONFIG)
    assert dry.statuses == ["failed"]
    assert [a["path"] for a in dry.actions()[0]] == [
        "/var/lib/first",
        "/var/lib/last",
        "/etc/first.conf",
        "/etc/last.conf",
    ]


def test_a_dangling_link_whose_directory_is_missing_is_enoent(tmp_path: Path) -> None:
    """As yip's create through the link: the target's directory is not made."""
    import os

    root = build(tmp_path / "r")
    os.symlink("/opt/missing/target.conf", root / "etc/dangling.conf")
    os.symlink("/var/lib/target.conf", root / "etc/dangling-ok.conf")
    run = run_config(
        root,
        """stages:
  test:
    - files:
        - {path: /etc/dangling.conf, content: nowhere}
        - {path: /etc/dangling-ok.conf, content: somewhere}
""",
    )
    assert run.statuses == ["failed"]
    assert (
        "/etc/dangling.conf (a symlink to /opt/missing/target.conf): No such file or directory"
    ) in run.reasons()
    assert not (root / "opt").exists()
    assert (root / "var/lib/target.conf").read_text() == "somewhere"
