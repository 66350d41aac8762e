"""`layout` against the real yip (../shared/tools/yip, pinned at 62df27a): two
copies of the same grown cloud disk on loop devices, yip's "Grow persistent"
on one (chrooted in a throwaway root, under unshare), ours on the other.

Found: both grow the last partition to the end of the disk, but yip puts its
end on the disk's very last sector, over the backup GPT (sgdisk: "Secondary
partition table overlaps the last partition by 33 blocks"), after which the
kernel drops the partition and yip's filesystem growth fails ("open
/dev/loopNp1: no such file or directory"). Ours ends on the last usable
sector (aligned by sfdisk), leaves a table that verifies, and grows ext4.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_modules_layout import (
    MIB,
    MISSING,
    ext4_bytes,
    host_run,
    loop_disk,
    probe,
    sh,
    table,
)
from tests.yip_oracle import YIP

# The real yip, where the shared directory is (tests/conftest.py finds it).
HAVE_YIP = YIP is not None and YIP.is_file()
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(
        os.geteuid() != 0
        or bool(MISSING)
        or not HAVE_YIP
        or shutil.which("unshare") is None
        or shutil.which("sgdisk") is None,
        reason="needs root, loop devices, unshare, sgdisk (apt-get install gdisk) and"
        " ../shared/tools/yip",
    ),
]
GROW = """stages:
  test:
    - name: grow
      layout:
        device:
          path: DEV
        expand_partition:
          size: 0
"""


def run_yip(tmp_path: Path, device: str, config: str = "") -> str:
    assert YIP is not None
    root = tmp_path / "yip-root"
    for d in ("dev", "sys", "proc", "tmp", "usr"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "sbin", "lib", "lib64"):  # merged /usr, as the host's
        (root / link).symlink_to(f"usr/{link}")
    shutil.copy(YIP, root / "yip")
    (root / "cfg.yaml").write_text(config or GROW.replace("DEV", device))
    # The host's /usr, read-only, for the mkfs tools yip runs.
    script = (
        f"mount --bind /dev {root}/dev && mount --bind /sys {root}/sys"
        f" && mount --bind -o ro /usr {root}/usr && mount -t proc proc {root}/proc"
        f" && chroot {root} /yip -s test /cfg.yaml"
    )
    done = subprocess.run(
        ["unshare", "-m", "-p", "-f", "-n", "--mount-proc", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout + done.stderr


def last_partition_end(device: str) -> tuple[int, int]:
    parts = table(device)["partitions"]
    assert isinstance(parts, list)
    start, size = int(parts[-1]["start"]), int(parts[-1]["size"])
    return start, start + size - 1


def test_grow_persistent_matches_yip_except_the_backup_table(tmp_path: Path) -> None:
    parts = [(20, "persistent", "ext4", "")]
    with (
        loop_disk(tmp_path / "yip.img", table="gpt", size=40, grow_to=160, parts=parts) as theirs,
        loop_disk(tmp_path / "ours.img", table="gpt", size=40, grow_to=160, parts=parts) as ours,
    ):
        before = ext4_bytes(f"{ours}p1")
        output = run_yip(tmp_path, theirs)
        run = host_run(GROW.replace("DEV", ours))
        assert run.statuses == ["applied"], run.reasons()
        total = 160 * MIB // 512
        their_start, their_end = last_partition_end(theirs)
        our_start, our_end = last_partition_end(ours)
        last_usable = int(str(table(ours)["lastlba"]))
        assert their_start == our_start == 2048
        assert their_end == total - 1, output  # yip: over the backup GPT
        assert last_usable == total - 34 and 0 <= last_usable - our_end < 2048
        assert "overlaps the last partition" in sh("sgdisk", "-v", theirs)
        assert "overlaps" not in sh("sgdisk", "-v", ours)
        assert ext4_bytes(f"{ours}p1") > before * 6


ADD = """stages:
  test:
    - name: add
      layout:
        device:
          path: DEV
        add_partitions:
          - {fsLabel: COS_EXTRA, size: 16, pLabel: extra, filesystem: ext4}
          - {fsLabel: XDATA, size: 0, pLabel: xdata, filesystem: xfs}
"""


def test_add_partitions_matches_yip_up_to_alignment(tmp_path: Path) -> None:
    parts = [(8, "oem", "ext4", "")]
    with (
        loop_disk(tmp_path / "yip.img", table="gpt", size=400, parts=parts) as theirs,
        loop_disk(tmp_path / "ours.img", table="gpt", size=400, parts=parts) as ours,
    ):
        output = run_yip(tmp_path, theirs, ADD.replace("DEV", theirs))
        run = host_run(ADD.replace("DEV", ours))
        assert run.statuses == ["applied"], run.reasons()
        sh("partx", "-u", theirs)
        real, mine = table(theirs)["partitions"], table(ours)["partitions"]
        assert isinstance(real, list) and isinstance(mine, list)
        assert [p.get("name") for p in mine] == [p.get("name") for p in real], output
        for i, (r, m) in enumerate(zip(real, mine, strict=True), 1):
            assert r["type"] == m["type"]
            assert abs(int(r["size"]) - int(m["size"])) <= 2048 * 2, (i, r, m)
            fs_real, fs_mine = probe(f"{theirs}p{i}"), probe(f"{ours}p{i}")
            assert (fs_real.get("TYPE"), fs_real.get("LABEL")) == (
                fs_mine.get("TYPE"),
                fs_mine.get("LABEL"),
            ), (i, output)
        # A second run of yip adds nothing either.
        before = table(theirs)
        run_yip(tmp_path / "again", theirs, ADD.replace("DEV", theirs))
        assert table(theirs)["partitions"] == before["partitions"]
