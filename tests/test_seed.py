"""The reference config, end to end, in all 16 boot modes.

Markers uki_boot_mode / recovery_mode / autoreset_mode present or absent, times
systemctl present or absent in the root. Expected files come from the seed
read with plain PyYAML, not from the executor's own loader.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from executor.cli import main
from tests.conftest import SEED, have, make_tree, snapshot

MARKERS = ("uki_boot_mode", "recovery_mode", "autoreset_mode")
UKI_CONF = "etc/systemd/system/systemd-sysext.service.d/kairos-uki.conf"
CONF = "etc/systemd/system/systemd-sysext.service.d/kairos.conf"
PROFILE = "etc/profile.d/systemd-sysext.sh"
LINK = "etc/systemd/system/sysinit.target.wants/systemd-sysext.service"
CASES = [
    (frozenset(m for m, on in zip(MARKERS, bits, strict=True) if on), systemctl)
    for bits in itertools.product((False, True), repeat=3)
    for systemctl in (False, True)
]


def seed_content() -> dict[str, str]:
    doc = yaml.safe_load(SEED.read_text())
    out = {}
    for step in doc["stages"]["initramfs.after"]:
        for f in step.get("files", []):
            out[f["path"].lstrip("/")] = f["content"]
    return out


def expected_files(markers: frozenset[str]) -> set[str]:
    uki, recovery, autoreset = (m in markers for m in MARKERS)
    files = set()
    if uki and not recovery and not autoreset:
        files.add(UKI_CONF)
    if not uki and not recovery and not autoreset:
        files.add(CONF)
    if not recovery and not autoreset:
        files.add(PROFILE)
    return files


def build_root(base: Path, markers: frozenset[str], systemctl: bool) -> Path:
    unit = Path("/usr/lib/systemd/system/systemd-sysext.service")
    text = (
        unit.read_text()
        if unit.exists()
        else (
            "[Unit]\nDescription=sysext\n[Service]\nType=oneshot\nExecStart=true\n"
            "[Install]\nWantedBy=sysinit.target\n"
        )
    )
    tree: dict[str, str | None] = {
        "/usr/lib/systemd/system/systemd-sysext.service": text,
        "/run/cos": None,
    }
    for m in markers:
        tree[f"/run/cos/{m}"] = ""
    if systemctl:
        tree["/usr/bin/systemctl"] = ""
    return make_tree(base, tree)


def run(*args: str) -> int:
    return main(list(args))


def case_id(case: tuple[frozenset[str], bool]) -> str:
    markers, systemctl = case
    return "+".join(sorted(markers) or ["none"]) + ("-systemctl" if systemctl else "-nosystemctl")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_apply_leaves_exactly_the_files_the_conditions_call_for(tmp_path: Path, case) -> None:
    markers, systemctl = case
    root = build_root(tmp_path / "r", markers, systemctl)
    assert run("apply", "-s", "initramfs.after", "--root", str(root), str(SEED)) == 0

    content = seed_content()
    wanted = expected_files(markers)
    for rel in (UKI_CONF, CONF, PROFILE):
        path = root / rel
        if rel in wanted:
            assert path.read_text() == content[rel]
            st = path.stat()
            assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o644, 0, 0)
        else:
            assert not path.exists()
    link = root / LINK
    if systemctl:
        assert os.readlink(link) == "/usr/lib/systemd/system/systemd-sysext.service"
    else:
        assert not link.is_symlink()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_dry_run_changes_nothing_and_plans_what_the_real_run_does(
    tmp_path: Path, case, capsys: pytest.CaptureFixture[str]
) -> None:
    markers, systemctl = case
    dry = build_root(tmp_path / "dry", markers, systemctl)
    real = build_root(tmp_path / "real", markers, systemctl)
    before = snapshot(dry)
    assert (
        run("apply", "-s", "initramfs.after", "--root", str(dry), "--dry-run", "--json", str(SEED))
        == 0
    )
    planned = json.loads(capsys.readouterr().out)
    assert snapshot(dry) == before
    assert run("apply", "-s", "initramfs.after", "--root", str(real), "--json", str(SEED)) == 0
    applied = json.loads(capsys.readouterr().out)

    assert planned["dry_run"] is True and applied["dry_run"] is False
    assert [s["name"] for s in planned["steps"]] == [s["name"] for s in applied["steps"]]
    for p, a in zip(planned["steps"], applied["steps"], strict=True):
        assert p["actions"] == a["actions"]
        assert (p["status"], a["status"]) in {
            ("planned", "applied"),
            ("skipped", "skipped"),
            ("unchanged", "unchanged"),
        }
    created = {
        act["path"].lstrip("/")
        for s in applied["steps"]
        for act in s["actions"]
        if act["change"] == "create"
    }
    on_disk = {
        os.path.relpath(os.path.join(d, n), real)
        for d, dirs, files in os.walk(real)
        for n in dirs + files
    } - {
        os.path.relpath(os.path.join(d, n), dry)
        for d, dirs, files in os.walk(dry)
        for n in dirs + files
    }
    on_disk -= {
        "run/stage-executor",
        "run/stage-executor/initramfs.after.json",
        "run/stage-executor.lock",
    }
    assert created == on_disk


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_second_apply_is_unchanged_and_keeps_mtimes(
    tmp_path: Path, case, capsys: pytest.CaptureFixture[str]
) -> None:
    markers, systemctl = case
    root = build_root(tmp_path / "r", markers, systemctl)
    args = ("apply", "-s", "initramfs.after", "--root", str(root), "--json", str(SEED))
    assert run(*args) == 0
    capsys.readouterr()
    report_file = "run/stage-executor/initramfs.after.json"
    kept = (report_file, "run/stage-executor.lock")  # the run's own bookkeeping
    before = {k: v for k, v in snapshot(root).items() if k not in kept}
    assert run(*args) == 0
    second = json.loads(capsys.readouterr().out)
    assert {s["status"] for s in second["steps"]} <= {"unchanged", "skipped"}
    after = {k: v for k, v in snapshot(root).items() if k not in kept}
    assert after == before


@pytest.mark.subprocess
@pytest.mark.skipif(not have("systemctl"), reason="systemctl is not installed")
def test_enable_link_layout_matches_systemctl_root(tmp_path: Path) -> None:
    ours = build_root(tmp_path / "ours", frozenset(), True)
    theirs = build_root(tmp_path / "theirs", frozenset(), True)
    assert run("apply", "-s", "initramfs.after", "--root", str(ours), str(SEED)) == 0
    done = subprocess.run(
        ["systemctl", f"--root={theirs}", "enable", "systemd-sysext.service"],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMCTL_SKIP_SYSV": "1"},
    )
    assert done.returncode == 0, done.stderr

    def links(root: Path) -> dict[str, str]:
        return {
            os.path.relpath(os.path.join(d, n), root): os.readlink(os.path.join(d, n))
            for d, _, files in os.walk(root / "etc/systemd/system")
            for n in files
            if os.path.islink(os.path.join(d, n))
        }

    assert links(ours) == links(theirs)
    assert links(ours)  # the comparison saw a link at all


def test_run_stage_picks_the_config_up_from_oem(tmp_path: Path) -> None:
    root = build_root(tmp_path / "r", frozenset(), True)
    (root / "oem").mkdir()
    shutil.copy(SEED, root / "oem" / "sysext-opt.yaml")
    assert run("run-stage", "initramfs", "--root", str(root)) == 0
    assert (root / CONF).read_text() == seed_content()[CONF]
    assert (root / LINK).is_symlink()
    report = json.loads((root / "run/stage-executor/initramfs.json").read_text())
    assert [s["stage"] for s in report["steps"]] == ["initramfs.after"] * 4
    assert report["steps"][0]["source"] == "/oem/sysext-opt.yaml"
