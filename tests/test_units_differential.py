"""Differential test against the real `systemctl --root` with this machine's units.

Every unit file and vendor alias link systemd ships here (templates get a
concrete instance too) is enabled, then disabled, then masked, once by
stage-executor and once by systemctl, each in its own root holding a copy of
the vendor unit directory; /etc/systemd/system is emptied between units, so
every unit starts from a fresh root. The links (and .wants directories) must
be the same, and so must success or failure.

Two layouts: a split root (lib/ is a real directory, units only in usr/lib:
link targets must be identical) and a merged root (lib -> usr/lib: Debian's
systemctl writes /lib/... where we write /usr/lib/..., so targets are
compared once resolved in the root).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from executor.units import names
from tests.conftest import have
from tests.units_oracle import compare_outcomes, ours, theirs

VENDOR = Path("/usr/lib/systemd/system")
LAYOUTS = ("split", "merged")


def vendor_cases() -> list[tuple[str, bool]]:
    """(unit name to act on, whether its unit file has an [Install] section)."""
    cases: list[tuple[str, bool]] = []
    for entry in sorted(VENDOR.iterdir()):
        name = entry.name
        kind = names.classify(name)
        if kind is None or entry.is_dir():
            continue
        has_install = _has_install(entry)
        cases.append((name, has_install))
        if kind == names.TEMPLATE:
            cases.append((names.with_instance(name, "probe1"), has_install))
    return cases


def _has_install(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return any(line.strip() == "[Install]" for line in text.splitlines())


def fresh_root(root: Path, layout: str) -> Path:
    shutil.copytree(VENDOR, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    if layout == "merged":
        (root / "lib").symlink_to("usr/lib")
    else:
        (root / "lib").mkdir()
    return root


def tree(path: Path) -> list[tuple[str, str]]:
    """Entries below `path` with their link targets: enough to see a stray write."""
    return sorted(
        (
            os.path.join(d, n),
            os.readlink(os.path.join(d, n)) if os.path.islink(os.path.join(d, n)) else "",
        )
        for d, dirnames, files in os.walk(path)
        for n in dirnames + files
    )


@pytest.mark.subprocess
@pytest.mark.skipif(not have("systemctl"), reason="systemctl is not installed")
@pytest.mark.skipif(not VENDOR.is_dir(), reason=f"{VENDOR} does not exist")
def test_every_vendor_unit_links_like_systemctl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = vendor_cases()
    differences: list[str] = []
    compared = 0
    for layout in LAYOUTS:
        mine = fresh_root(tmp_path / f"{layout}-ours", layout)
        real = fresh_root(tmp_path / f"{layout}-systemctl", layout)
        vendor_before = tree(mine / "usr"), tree(real / "usr")
        for name, _ in cases:
            for root in (mine, real):
                shutil.rmtree(root / "etc/systemd/system")
                (root / "etc/systemd/system").mkdir()
            for verb in ("enable", "disable", "mask"):
                a, b = ours(mine, verb, name), theirs(real, verb, name)
                where = f"[{layout}] {verb} {name}"
                differences += compare_outcomes(where, a, b, mine, real, resolve=layout == "merged")
            compared += 1
        assert (tree(mine / "usr"), tree(real / "usr")) == vendor_before, "usr/ was changed"
    with_install = sum(1 for _, has in cases if has)
    with capsys.disabled():
        print(
            f"\nunits differential: {len(cases)} units ({with_install} with [Install]) x "
            f"{len(LAYOUTS)} layouts x enable/disable/mask = {compared * 3} comparisons, "
            f"{len(differences)} differences"
        )
    assert with_install > 30, "too few units with [Install] to compare meaningfully"
    assert not differences, "\n".join(differences)


def test_vendor_case_list_has_templates_and_aliases() -> None:
    if not VENDOR.is_dir():
        pytest.skip(f"{VENDOR} does not exist")
    cases = [name for name, _ in vendor_cases()]
    assert any(names.classify(n) == names.TEMPLATE for n in cases)
    assert any(names.classify(n) == names.INSTANCE for n in cases)
    assert any(
        (VENDOR / n).is_symlink()
        for n in cases
        if (VENDOR / n).exists() or os.path.islink(VENDOR / n)
    )
