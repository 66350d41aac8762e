"""systemd_firstboot done natively: scenarios, and the same files as the real
`systemd-firstboot --root=DIR` writes (the oracle, where it is installed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from executor import accounts
from executor.modules import firstboot
from tests.conftest import have
from tests.modhelp import assert_dry_run_matches, run_config, tree

MID = "0123456789abcdef0123456789abcdef"
SETTINGS = {
    "keymap": "us",
    "locale": "en_US.UTF-8",
    "locale-messages": "C.UTF-8",
    "timezone": "Europe/Rome",
    "hostname": "node1",
    "machine-id": MID,
}


def base(root: Path, os_id: str = "debian") -> Path:
    return tree(
        root,
        {"/etc/os-release": f"ID={os_id}\n", "/usr/share/zoneinfo/Europe/Rome": "TZif2 fake\n"},
    )


def config(settings: dict[str, str]) -> str:
    body = "".join(f'        {k}: "{v}"\n' for k, v in settings.items())
    return f"stages:\n  test:\n    - systemd_firstboot:\n{body}"


def files_of(root: Path) -> dict[str, str]:
    out = {}
    for rel in (
        "etc/vconsole.conf",
        "etc/default/locale",
        "etc/locale.conf",
        "etc/hostname",
        "etc/machine-id",
        "etc/localtime",
    ):
        path = root / rel
        if os.path.islink(path):
            out[rel] = "-> " + os.readlink(path)
        elif path.exists():
            out[rel] = path.read_text()
    return out


def test_native_firstboot_writes_each_setting(tmp_path: Path) -> None:
    root = base(tmp_path / "r")
    run = run_config(root, config(SETTINGS))
    assert run.statuses == ["applied"], run.reasons()
    assert files_of(root) == {
        "etc/vconsole.conf": "KEYMAP=us\n",
        "etc/default/locale": "LANG=en_US.UTF-8\nLC_MESSAGES=C.UTF-8\n",
        "etc/hostname": "node1\n",
        "etc/machine-id": MID + "\n",
        "etc/localtime": "-> ../usr/share/zoneinfo/Europe/Rome",
    }


def test_locale_conf_on_a_non_debian_root(tmp_path: Path) -> None:
    root = base(tmp_path / "r", "fedora")
    run_config(root, config({"locale": "de_DE.UTF-8", "locale-messages": "de_DE.UTF-8"}))
    assert (root / "etc/locale.conf").read_text() == "LANG=de_DE.UTF-8\n"


def test_existing_files_are_kept_unless_force(tmp_path: Path) -> None:
    root = base(tmp_path / "r")
    (root / "etc/hostname").write_text("keep\n")
    assert run_config(root, config({"hostname": "new"})).statuses == ["unchanged"]
    assert (root / "etc/hostname").read_text() == "keep\n"
    run_config(root, config({"hostname": "new", "force": "true"}))
    assert (root / "etc/hostname").read_text() == "new\n"


def test_root_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "days_since_epoch", lambda: 20000)
    monkeypatch.setattr(firstboot, "days_since_epoch", lambda: 20000)
    root = base(tmp_path / "r")
    (root / "bin").mkdir()
    (root / "bin/bash").write_text("")
    settings = {"root-password-hashed": "$6$s$h", "root-shell": "/bin/bash"}
    run = run_config(root, config(settings))
    assert run.statuses == ["applied"], run.reasons()
    assert (root / "etc/passwd").read_text() == "root:x:0:0:Super User:/root:/bin/bash\n"
    assert (root / "etc/shadow").read_text() == "root:$6$s$h:20000::::::\n"
    # Both files exist now: like systemd-firstboot, leave the account alone.
    assert run_config(root, config({"root-password-hashed": "$6$other"})).statuses == ["unchanged"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prompt-locale": "true"}, "is not supported"),
        ({"copy": "true"}, "is not supported"),
        ({"hostname": "true"}, "needs a value"),
        ({"timezone": "Mars/Olympus"}, "is not in the root's /usr/share/zoneinfo"),
        ({"machine-id": "xyz"}, "not a valid machine id"),
        ({"force": "yes"}, "is a flag"),
    ],
)
def test_unsupported_or_invalid_settings_fail(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    run = run_config(base(tmp_path / "r"), config(settings))
    assert run.statuses == ["failed"] and message in run.reasons()


def test_firstboot_dry_run_parity(tmp_path: Path) -> None:
    assert_dry_run_matches(tmp_path, base, config(SETTINGS))


@pytest.mark.subprocess
@pytest.mark.skipif(not have("systemd-firstboot"), reason="systemd-firstboot is not installed")
@pytest.mark.parametrize(
    "settings",
    [
        SETTINGS,
        {"keymap": "de"},
        {"locale": "C.UTF-8", "locale-messages": "C.UTF-8"},
        {"locale-messages": "fr_FR.UTF-8"},
        {"hostname": "only-a-name"},
        {"timezone": "Europe/Rome", "machine-id": MID},
    ],
)
def test_same_files_as_systemd_firstboot(tmp_path: Path, settings: dict[str, str]) -> None:
    # The host's binary is a Debian build (locale in /etc/default/locale):
    # the roots say they are Debian so the native choice is the same.
    ours, theirs = base(tmp_path / "ours"), base(tmp_path / "theirs")
    (theirs / "etc").mkdir(exist_ok=True)
    assert run_config(ours, config(settings)).statuses == ["applied"]
    args = [f"--{k}={v}" for k, v in sorted(settings.items())]
    done = subprocess.run(
        ["systemd-firstboot", f"--root={theirs}", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert files_of(ours) == files_of(theirs)
