"""Kairos-style configs (our own fixtures in the spirit of kairos-init's
00_rootfs, 09_systemd_services, 10_accounting and 31_hosts) against a root
shaped like a Kairos image: the layout step is planned without a device; a
real run of the identity configs gives the expected files. (That a dry-run
of every stage exits 0 and changes nothing is checked on the configs Kairos
ships, in tests/test_kairos_stock.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from executor.cli import main
from tests.modhelp import tree

FIXTURES = Path(__file__).parent / "fixtures" / "kairos"
MID = "5c3e8a71d2f94b06a1e7c4d9b8f20a13"
UNIT = "[Unit]\nDescription={}\n\n[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy={}\n"


def kairos_root(base: Path) -> Path:
    lib = "/usr/lib/systemd/system"
    root = tree(
        base,
        {
            "/etc/os-release": 'NAME="Kairos"\nID=kairos\nID_LIKE=ubuntu debian\nVERSION_ID=3.2\n',
            "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
            "/etc/group": "root:x:0:\n",
            "/etc/shadow": "root:*:19000:0:99999:7:::\n",
            "/etc/hosts": "127.0.0.1 localhost\n",
            "/etc/machine-id": MID + "\n",
            "/usr/bin/systemctl": "",
            "/bin/bash": "",
            f"{lib}/multi-user.target": "[Unit]\nDescription=Multi-User\n",
            f"{lib}/getty@.service": UNIT.format("Getty", "getty.target"),
            f"{lib}/logrotate.timer": UNIT.format("Rotate logs", "timers.target"),
            f"{lib}/systemd-machine-id-commit.service": "[Unit]\nDescription=Commit\n",
            f"{lib}/systemd-tpm2-setup.service": "[Unit]\nDescription=TPM\n",
            "/home/.keep": "",
            "/run/cos/.keep": "",
        },
    )
    shutil.copytree(FIXTURES, root / "system/oem")
    return root


def dry_run(
    root: Path, stage: str, capsys: pytest.CaptureFixture[str], *markers: str
) -> tuple[int, dict[str, object]]:
    args = ["run-stage", stage, "--root", str(root), "--dry-run", "--json", "--no-cmdline"]
    for marker in markers:
        args += ["--marker", marker]
    code = main(args)
    return code, json.loads(capsys.readouterr().out)


def steps(report: dict[str, object]) -> list[dict[str, object]]:
    out = report["steps"]
    assert isinstance(out, list)
    return out


def test_rootfs_plans_the_layout_step_without_inspecting_a_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kairos_root(tmp_path / "r")
    code, report = dry_run(root, "rootfs", capsys)
    assert code == 0 and report["warnings"] == []
    grow = next(s for s in steps(report) if s["name"] == "Grow the persistent partition")
    assert grow["status"] == "planned"
    assert [a["detail"] for a in grow["actions"]] == [  # type: ignore[attr-defined]
        "device not inspected: the root is not the running system"
    ]
    layout = next(
        s for s in steps(report) if s["name"] == "Layout for the active and passive systems"
    )
    assert layout["status"] == "planned"
    assert [a["path"] for a in layout["actions"]] == ["/run/cos/cos-layout.env"]
    # In recovery mode the layout step's condition is false: all clean.
    code, report = dry_run(root, "rootfs", capsys, "recovery_mode")
    assert code == 0 and {s["status"] for s in steps(report)} <= {"planned", "unchanged", "skipped"}


def test_real_run_of_the_identity_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kairos_root(tmp_path / "r")
    for name in ("00_rootfs_layout.yaml", "09_services.yaml"):
        (root / "system/oem" / name).unlink()  # their commands need the node's tools
    code = main(
        [
            "apply",
            "-s",
            "initramfs",
            "--root",
            str(root),
            "--json",
            str(root / "system/oem/10_accounts.yaml"),
        ]
    )
    assert code == 0, capsys.readouterr().out
    capsys.readouterr()
    assert (
        "kairos:x:1000:1000:Created by entities:/home/kairos:/bin/bash"
        in (root / "etc/passwd").read_text().splitlines()
    )
    assert "admin:x:900:kairos" in (root / "etc/group").read_text().splitlines()
    assert (root / "etc/sudoers").stat().st_mode & 0o777 == 0o600
    assert (root / "home/kairos").is_dir()
