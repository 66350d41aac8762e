"""The cloud-configs Kairos ships (../shared/kairos-cloudconfigs, beside the
checkout) against a fake root shaped like a Kairos image: a dry-run of every
boot stage exits 0, changes nothing, and plans the first-boot steps
(`layout`, `datasource`) without touching a device or the network.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from executor.cli import main
from tests.conftest import snapshot
from tests.modhelp import tree

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = [REPO.parent / "shared", REPO.parent.parent / "shared"]
STOCK = next(
    (c / "kairos-cloudconfigs" for c in CANDIDATES if (c / "kairos-cloudconfigs").is_dir()), None
)
pytestmark = pytest.mark.skipif(
    STOCK is None, reason=f"the stock Kairos configs are not in {CANDIDATES}"
)
LIB = "/usr/lib/systemd/system"
UNIT = "[Unit]\nDescription={0}\n\n[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy={1}\n"
STAGES = ["rootfs", "initramfs", "boot", "fs", "network", "reconcile"]


def kairos_image(base: Path) -> Path:
    units = {
        f"{LIB}/{name}": UNIT.format(name, wanted)
        for name, wanted in [
            ("getty@.service", "getty.target"),
            ("iscsid.service", "multi-user.target"),
            ("logrotate.timer", "timers.target"),
            ("systemd-sysext.service", "sysinit.target"),
            ("systemd-confext.service", "sysinit.target"),
            ("systemd-networkd.service", "multi-user.target"),
            ("systemd-resolved.service", "multi-user.target"),
        ]
    }
    root = tree(
        base,
        {
            "/etc/os-release": 'NAME="Kairos"\nID=kairos\nID_LIKE=ubuntu debian\nVERSION_ID=3.2\n',
            "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
            "/etc/group": "root:x:0:\n",
            "/etc/shadow": "root:*:19000:0:99999:7:::\n",
            "/etc/hosts": "127.0.0.1 localhost\n",
            "/etc/machine-id": "5c3e8a71d2f94b06a1e7c4d9b8f20a13\n",
            "/usr/bin/systemctl": "",
            "/bin/bash": "",
            f"{LIB}/multi-user.target": "[Unit]\nDescription=Multi-User\n",
            f"{LIB}/systemd-machine-id-commit.service": "[Unit]\nDescription=Commit\n",
            **units,
            "/run/cos/.keep": "",
            "/oem/.keep": "",
        },
    )
    assert STOCK is not None
    shutil.copytree(STOCK, root / "system/oem", ignore=shutil.ignore_patterns("*.md"))
    return root


def dry_run(root: Path, stage: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["run-stage", stage, "--root", str(root), "--dry-run", "--json", "--no-cmdline"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("stage", STAGES)
def test_a_dry_run_of_the_stock_configs_exits_0(
    tmp_path: Path, stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kairos_image(tmp_path / "r")
    before = snapshot(root)
    code, report = dry_run(root, stage, capsys)
    assert snapshot(root) == before
    failed = [(s["name"], s["reason"]) for s in report["steps"] if s["status"] == "failed"]
    assert (code, failed, report["errors"]) == (0, [], [])
    # The one warning: a typo in the stock 08_grub.yaml (its files then get
    # the default mode, in yip too).
    assert {w["message"] for w in report["warnings"]} <= {
        "unknown key `permsisions` in file; did you mean `permissions`?"
    }
    # undecided: a condition a dry-run cannot decide (it would run a command)
    assert {s["status"] for s in report["steps"]} <= {
        "planned",
        "unchanged",
        "skipped",
        "undecided",
    }


def test_the_first_boot_steps_are_planned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = kairos_image(tmp_path / "r")
    _, rootfs = dry_run(root, "rootfs", capsys)
    grow = next(s for s in rootfs["steps"] if s["name"] == "Grow persistent")
    assert grow["status"] == "planned"
    assert [a["kind"] for a in grow["actions"]] == ["layout"]
    _, network = dry_run(root, "network", capsys)
    (pull,) = [s for s in network["steps"] if s["name"] == "Pull data from provider"]
    assert pull["status"] == "planned"
    assert pull["actions"][-1]["detail"].startswith("not asked in a dry-run: cdrom, gcp")
