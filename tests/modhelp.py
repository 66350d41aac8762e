"""Helpers for module scenario tests: run a config on a temp root, for real or
as a dry-run, and check that the dry-run planned exactly what the real run did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from executor.context import RunContext
from executor.engine import StepReport, run_step
from executor.load import load_text
from executor.order import order_stage
from executor.root import DryRunRoot, Root
from tests.conftest import snapshot


@dataclass
class Run:
    root: Root
    steps: list[StepReport]

    @property
    def statuses(self) -> list[str]:
        return [s.status for s in self.steps]

    def actions(self) -> list[list[dict[str, object]]]:
        return [[a.as_json() for a in s.actions] for s in self.steps]

    def reasons(self) -> str:
        return "; ".join(s.reason for s in self.steps if s.reason)


def run_config(root: Path, text: str, *, stage: str = "test", dry_run: bool = False) -> Run:
    result = load_text(text, "config.yaml")
    assert result.ok, [p.format() for p in result.problems]
    assert result.config is not None
    r: Root = DryRunRoot(str(root)) if dry_run else Root(str(root))
    ctx = RunContext(root=r)
    steps = [run_step(ctx, planned) for planned in order_stage([result.config], stage)]
    return Run(r, steps)


def assert_dry_run_matches(
    tmp_path: Path, build: Callable[[Path], Path], text: str, *, stage: str = "test"
) -> tuple[Run, Run]:
    """Dry-run one copy of a root and really run another: the dry-run changes
    nothing, plans the same actions, and its overlay holds what the real root
    then holds."""
    dry_root = build(tmp_path / "dry")
    real_root = build(tmp_path / "real")
    before = snapshot(dry_root)
    dry = run_config(dry_root, text, stage=stage, dry_run=True)
    assert snapshot(dry_root) == before, "a dry-run changed the root"
    real = run_config(real_root, text, stage=stage)
    assert dry.actions() == real.actions()
    for d, r in zip(dry.statuses, real.statuses, strict=True):
        assert (d, r) in {
            ("planned", "applied"),
            ("unchanged", "unchanged"),
            ("skipped", "skipped"),
            ("failed", "failed"),
        }, (d, r)
    assert isinstance(dry.root, DryRunRoot)
    for path in dry.root.planned_paths():
        planned = dry.root.lookup(path, follow=False)
        host = os.path.join(real_root, path.lstrip("/"))
        if planned is None:
            assert not os.path.lexists(host), path
            continue
        st = os.lstat(host)
        if planned.kind == "link":
            assert os.readlink(host) == planned.target, path
            continue
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (
            planned.mode,
            planned.uid,
            planned.gid,
        ), path
        if planned.kind == "file":
            assert Path(host).read_bytes() == dry.root.read_bytes(path), path
    return dry, real


def tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root
