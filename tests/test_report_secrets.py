"""Dry-run diffs do not print secrets unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import make_tree

FILES = """stages:
  boot:
  - files:
    - {path: /etc/key, content: "SECRET-KEY", permissions: 0600}
    - {path: /etc/pub, content: "public", permissions: 0644}
    - {path: /etc/group-only, content: "GROUP-SECRET", permissions: 0640}
"""
USERS = """stages:
  boot:
  - users:
      bob:
        passwd: "$6$saltsalt$HASHHASHHASH"
"""


def _dry(root: Path, src: Path, *extra: str) -> None:
    args = ["apply", "-s", "boot", str(src), "--root", str(root), "--no-cmdline", "--dry-run"]
    assert main([*args, *extra]) == 0


def test_files_others_may_not_read_are_not_diffed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path / "root", {"/etc/key": "OLD-KEY"})
    src = tmp_path / "c.yaml"
    src.write_text(FILES)
    _dry(root, src)
    out = capsys.readouterr().out
    assert "SECRET" not in out and "OLD-KEY" not in out
    assert (
        "(content not shown: mode 0600, others may not read it; 7 -> 10 bytes;"
        " --show-secrets shows it)" in out
    )
    assert "(content not shown: mode 0640" in out
    assert "+public" in out
    _dry(root, src, "--show-secrets")
    out = capsys.readouterr().out
    assert "-OLD-KEY" in out and "+SECRET-KEY" in out and "+GROUP-SECRET" in out


def test_shadow_hashes_are_not_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "/etc/group": "root:x:0:\n",
            "/etc/shadow": "root:$6$old$OLDHASH:19000:0:99999:7:::\n",
        },
    )
    src = tmp_path / "u.yaml"
    src.write_text(USERS)
    _dry(root, src)
    out = capsys.readouterr().out
    assert "/etc/shadow" in out
    assert "HASHHASHHASH" not in out and "OLDHASH" not in out
    _dry(root, src, "--show-secrets")
    assert "HASHHASHHASH" in capsys.readouterr().out


def test_show_secrets_needs_a_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "root").mkdir()
    args = ["run-stage", "boot", "--root", str(tmp_path / "root"), "--show-secrets"]
    assert main(args) == 2
    assert "--show-secrets only makes sense with --dry-run" in capsys.readouterr().err
