"""Shared fixtures: real temp-dir roots, and no stray subprocesses.

A test that starts a process (dash, systemctl, the executor itself) says so
with `@pytest.mark.subprocess`; any other test that tries fails at once, so a
native code path can never silently fall back to a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def find_shared() -> Path | None:
    """The shared directory (the real yip, the Kairos configs, the seed):
    $STAGE_EXECUTOR_SHARED, else the first `shared/` beside the checkout or one
    of its ancestors (CI clones the repository with `shared/` beside it)."""
    env = os.environ.get("STAGE_EXECUTOR_SHARED")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in REPO.parents:
        candidate = parent / "shared"
        if candidate.is_dir():
            return candidate
    return None


SHARED = find_shared()
# The cloud-configs Kairos ships; $KAIROS_CLOUDCONFIGS overrides.
KAIROS_CONFIGS = (
    Path(os.environ["KAIROS_CLOUDCONFIGS"])
    if "KAIROS_CLOUDCONFIGS" in os.environ
    else (SHARED / "kairos-cloudconfigs" if SHARED else REPO / "no-kairos-cloudconfigs")
)
CONFIGS = REPO / "configs"
SEED = CONFIGS / "sysext-opt.yaml"
SYSEXT_UNIT = """[Unit]
Description=Merge System Extension Images into /usr/ and /opt/

[Service]
Type=oneshot
ExecStart=systemd-sysext refresh

[Install]
WantedBy=sysinit.target
"""


@pytest.fixture(autouse=True)
def _forbid_subprocess(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("subprocess"):
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected subprocess in a test not marked subprocess: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


def make_tree(root: Path, files: dict[str, str | None]) -> Path:
    """Create files (str content) and directories (None) below `root`."""
    for rel, content in files.items():
        path = root / rel.lstrip("/")
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    return root


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below `root` with its kind, mode, owner, content or target, mtime."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", st.st_mode, st.st_uid, st.st_gid)
            else:
                out[rel] = (
                    "file",
                    st.st_mode,
                    st.st_uid,
                    st.st_gid,
                    st.st_mtime_ns,
                    Path(path).read_bytes(),
                )
    return out


@pytest.fixture
def seed_root(tmp_path: Path) -> Path:
    """A root with systemd-sysext.service installed and systemctl present."""
    root = tmp_path / "root"
    make_tree(
        root,
        {
            "/usr/lib/systemd/system/systemd-sysext.service": SYSEXT_UNIT,
            "/usr/bin/systemctl": "",
            "/run/cos": None,
        },
    )
    return root


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture
def chdir_repo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(REPO)
    yield REPO
