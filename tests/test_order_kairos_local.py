"""Check against the cloud-configs Kairos ships (kairos-init
pkg/bundled/cloudconfigs), read from ../shared/kairos-cloudconfigs beside the
checkout (tests/conftest.py: KAIROS_CONFIGS; $KAIROS_CLOUDCONFIGS overrides).

Their text is not part of this repository: the test is skipped without them.
Each set of files found there (the directory itself and every subdirectory
holding .yaml files) is put in a root's /system/oem; then every file must
load without error, and `run-stage initramfs --dry-run` must list every
`initramfs.before`, `initramfs` and `initramfs.after` step, in the order
read independently with plain PyYAML (none of these files uses `after:`, so
the order is file order, then step order).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from executor.cli import main
from executor.load import load_text
from tests.conftest import KAIROS_CONFIGS

REFERENCE = KAIROS_CONFIGS
STAGES = ("initramfs.before", "initramfs", "initramfs.after")


def _sets() -> list[Path]:
    if not REFERENCE.is_dir():
        return []
    dirs = {p.parent for p in REFERENCE.rglob("*.yaml")}
    return sorted(dirs)


def _plain(path: Path) -> dict[str, object] | None:
    """The document as plain PyYAML reads it; None when that is not YAML."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return None
    return doc or {}


def _expected(files: list[Path]) -> list[tuple[str, str]]:
    """(stage, in-root file) of every step, from plain PyYAML in file order."""
    out = []
    for stage in STAGES:
        for path in files:
            doc = _plain(path)
            stages = doc.get("stages") if doc else None
            for _ in (stages or {}).get(stage) or []:  # type: ignore[attr-defined]
                out.append((stage, f"/system/oem/{path.name}"))
    return out


@pytest.mark.subprocess  # a real run may hand a condition to /bin/sh
@pytest.mark.skipif(not _sets(), reason=f"no local copy of the Kairos configs in {REFERENCE}")
@pytest.mark.parametrize("directory", _sets(), ids=lambda p: str(p.relative_to(REFERENCE)))
def test_run_stage_initramfs_over_the_kairos_configs(
    directory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(directory.glob("*.yaml"))
    broken = []
    for path in files:
        result = load_text(path.read_text(), str(path))
        if _plain(path) is None:  # not YAML at all (yip cannot read it either)
            assert not result.ok and result.problems[0].line > 0
            broken.append(f"/system/oem/{path.name}")
        else:
            assert result.ok, [p.format() for p in result.problems]
    root = tmp_path / "root"
    (root / "system/oem").mkdir(parents=True)
    (root / "run/cos").mkdir(parents=True)
    for path in files:
        shutil.copy(path, root / "system/oem" / path.name)
    code = main(
        ["run-stage", "initramfs", "--root", str(root), "--dry-run", "--json", "--no-cmdline"]
    )
    report = json.loads(capsys.readouterr().out)
    assert sorted(e["source"] for e in report["errors"]) == broken
    assert [(s["stage"], s["source"]) for s in report["steps"]] == _expected(files)
    assert code in (0, 1)  # 1 when a step uses a module not implemented yet
    print(f"\n{directory}: {len(files)} files, not YAML: {broken or 'none'}")
    for stage in STAGES:
        names = [s["full_name"] for s in report["steps"] if s["stage"] == stage]
        print(f"  {stage}: {len(names)} steps")
        for name in names:
            print(f"    {name}")
