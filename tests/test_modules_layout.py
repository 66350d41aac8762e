"""`layout` for real: disk images on loop devices, GPT and MBR, ext4 and xfs.

The oracle is the disk itself after the run: `sfdisk --json` for the table,
`blkid -p` for filesystems and labels, `dumpe2fs`/`xfs_info` for their size.
Needs root, losetup and the tools (util-linux, e2fsprogs, xfsprogs,
dosfstools): without them every test here is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from executor.context import RunContext
from executor.engine import run_step
from executor.load import load_text
from executor.order import order_stage
from executor.root import DryRunRoot, Root
from executor.runner import Runner
from tests.modhelp import Run, run_config

TOOLS = (
    "losetup",
    "sfdisk",
    "partx",
    "blkid",
    "mkfs.ext4",
    "dumpe2fs",
    "resize2fs",
    "e2fsck",
    "mkfs.xfs",
    "xfs_growfs",
    "xfs_info",
    "mount",
    "umount",
)
MISSING = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(
        os.geteuid() != 0 or bool(MISSING),
        reason=f"layout tests need root and {', '.join(MISSING) or 'loop devices'}"
        " (apt-get install fdisk xfsprogs e2fsprogs util-linux)",
    ),
]
MIB = 1 << 20


def sh(*argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


@contextmanager
def loop_disk(
    image: Path,
    *,
    table: str,
    parts: list[tuple[int, str, str, str]],
    grow_to: int = 0,
    size: int = 64,
) -> Iterator[str]:
    """A loop device on a new image of `size` MiB with `parts` (MiB, GPT name,
    filesystem, label), then grown to `grow_to` MiB (a cloud disk made bigger)."""
    with open(image, "wb") as f:
        f.truncate(size * MIB)
    lines = [f"label: {table}"]
    start = 1
    for mib, name, _, _ in parts:
        line = f"start={start * 2048}, size={mib * 2048}, type=" + (
            "0FC63DAF-8483-4772-8E79-3D69D8477DE4" if table == "gpt" else "83"
        )
        lines.append(line + (f", name={name}" if name and table == "gpt" else ""))
        start += mib
    sh("sfdisk", "-q", str(image), stdin="\n".join(lines) + "\n")
    if grow_to:
        with open(image, "r+b") as f:
            f.truncate(grow_to * MIB)
    try:
        device = sh("losetup", "-f", "--show", "-P", str(image)).strip()
    except AssertionError as exc:
        pytest.skip(f"no loop device: {exc}")
    try:
        sh("partx", "-u", device)
        for i, (_, _, fs, label) in enumerate(parts, 1):
            node = f"{device}p{i}"
            if fs == "ext4":
                sh("mkfs.ext4", "-q", "-L", label, node)
            elif fs == "xfs":
                sh("mkfs.xfs", "-q", "-L", label, node)
            elif fs == "swap":
                sh("mkswap", "-L", label, node)
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def table(device: str) -> dict[str, object]:
    out = sh("sfdisk", "--json", device)
    data: dict[str, object] = json.loads(out[out.index("{") :])["partitiontable"]
    return data


def partitions(device: str) -> list[dict[str, object]]:
    parts = table(device)["partitions"]
    assert isinstance(parts, list)
    return parts


def probe(node: str) -> dict[str, str]:
    out = subprocess.run(
        ["blkid", "-p", "-o", "export", node], capture_output=True, text=True, check=False
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ext4_bytes(node: str) -> int:
    info = dict(
        line.split(":", 1) for line in sh("dumpe2fs", "-h", node).splitlines() if ":" in line
    )
    return int(info["Block count"]) * int(info["Block size"])


def host_run(text: str, *, dry_run: bool = False) -> Run:
    return run_config(Path("/"), text, dry_run=dry_run)


def grow(selector: str, size: int = 0) -> str:
    return f"""stages:
  test:
    - name: Grow persistent
      layout:
        device: {{{selector}}}
        expand_partition: {{size: {size}}}
"""


def test_gpt_ext4_grows_to_the_end_of_a_grown_disk_by_label(tmp_path: Path) -> None:
    with loop_disk(
        tmp_path / "d.img",
        table="gpt",
        size=48,
        grow_to=160,
        parts=[(8, "oem", "ext4", "COS_OEM"), (24, "persistent", "ext4", "COS_PERSIST_T")],
    ) as dev:
        before = ext4_bytes(f"{dev}p2")
        run = host_run(grow("label: COS_PERSIST_T"))
        assert run.statuses == ["applied"], run.reasons()
        after = table(dev)
        last = partitions(dev)[-1]
        # The backup header moved to the end, and the partition reaches it.
        assert after["lastlba"] == 160 * 2048 - 34
        end = int(str(last["start"])) + int(str(last["size"])) - 1
        assert 0 <= 160 * 2048 - 34 - end < 2048  # sfdisk keeps the end aligned
        assert ext4_bytes(f"{dev}p2") > before * 5
        assert probe(f"{dev}p2")["LABEL"] == "COS_PERSIST_T"
        sh("e2fsck", "-f", "-n", f"{dev}p2")
        # Idempotent: the second run changes nothing.
        again = host_run(grow("label: COS_PERSIST_T"))
        assert again.statuses == ["unchanged"], again.reasons()
        assert table(dev) == after


def test_mbr_xfs_grows_by_path_to_a_given_size(tmp_path: Path) -> None:
    # xfs needs 300 MiB at least; the image is sparse.
    with loop_disk(
        tmp_path / "d.img", table="dos", size=1024, parts=[(320, "", "xfs", "DATA")]
    ) as dev:
        run = host_run(grow(f"path: {dev}", size=600))
        assert run.statuses == ["applied"], run.reasons()
        (part,) = partitions(dev)
        assert part["size"] == 600 * 2048
        where = tmp_path / "m"
        where.mkdir()
        sh("mount", f"{dev}p1", str(where))
        try:
            info = sh("xfs_info", str(where))
        finally:
            sh("umount", str(where))
        blocks = int(info.split("blocks=")[1].split(",")[0])  # the data section's
        assert blocks * 4096 > 550 * MIB
        assert host_run(grow(f"path: {dev}", size=600)).statuses == ["unchanged"]
        # yip's script:// device: the command's output names the disk.
        by_script = grow(f"path: 'script://{shutil.which('echo')} {dev}'", size=600)
        assert host_run(by_script).statuses == ["unchanged"]
        assert host_run(by_script, dry_run=True).actions()[0][0]["detail"] == (
            "device not inspected: a dry-run runs no device script"
        )


ADD = """stages:
  test:
    - name: add
      layout:
        device: {path: DEV}
        add_partitions:
          - {fsLabel: COS_EXTRA, size: 16, pLabel: extra, filesystem: ext4}
          - {fsLabel: XDATA, size: 0, pLabel: xdata, filesystem: xfs}
"""


def test_gpt_add_partitions_creates_filesystems_once(tmp_path: Path) -> None:
    with loop_disk(
        tmp_path / "d.img", table="gpt", size=400, parts=[(8, "oem", "ext4", "COS_OEM")]
    ) as dev:
        text = ADD.replace("DEV", dev)
        run = host_run(text)
        assert run.statuses == ["applied"], run.reasons()
        parts = partitions(dev)
        assert [p.get("name") for p in parts] == ["oem", "extra", "xdata"]
        assert parts[1]["size"] == 16 * 2048
        assert probe(f"{dev}p2")["TYPE"] == "ext4" and probe(f"{dev}p2")["LABEL"] == "COS_EXTRA"
        assert probe(f"{dev}p3")["TYPE"] == "xfs" and probe(f"{dev}p3")["LABEL"] == "XDATA"
        # size 0: everything left, up to the last usable sector.
        end = int(str(parts[2]["start"])) + int(str(parts[2]["size"])) - 1
        assert 0 <= int(str(table(dev)["lastlba"])) - end < 2048
        before = table(dev)
        again = host_run(text)
        assert again.statuses == ["unchanged"], again.reasons()
        assert table(dev) == before


def test_mbr_add_partition_is_recognised_by_its_filesystem_label(tmp_path: Path) -> None:
    text = """stages:
  test:
    - layout:
        device: {path: DEV}
        add_partitions:
          - {fsLabel: MBR_DATA, size: 40, filesystem: ext4}
"""
    with loop_disk(
        tmp_path / "d.img", table="dos", size=128, parts=[(16, "", "ext4", "FIRST")]
    ) as dev:
        text = text.replace("DEV", dev)
        assert host_run(text).statuses == ["applied"]
        parts = partitions(dev)
        assert len(parts) == 2 and parts[1]["size"] == 40 * 2048
        assert probe(f"{dev}p2")["LABEL"] == "MBR_DATA"
        assert host_run(text).statuses == ["unchanged"]
        assert len(partitions(dev)) == 2


def test_dry_run_on_the_host_plans_the_commands_and_touches_nothing(tmp_path: Path) -> None:
    with loop_disk(
        tmp_path / "d.img",
        table="gpt",
        size=40,
        grow_to=96,
        parts=[(16, "persistent", "ext4", "COS_DRYRUN_T")],
    ) as dev:
        before = table(dev), ext4_bytes(f"{dev}p1"), (tmp_path / "d.img").read_bytes()
        run = host_run(grow("label: COS_DRYRUN_T"), dry_run=True)
        assert run.statuses == ["planned"], run.reasons()
        commands = [str(a["command"]).split()[0].rsplit("/", 1)[-1] for a in run.actions()[0]]
        assert commands == ["sfdisk", "sfdisk", "partx", "e2fsck", "resize2fs"]
        assert (table(dev), ext4_bytes(f"{dev}p1"), (tmp_path / "d.img").read_bytes()) == before


def _fake_root_run(root: Path, text: str, *, dry_run: bool) -> tuple[Run, Runner]:
    result = load_text(text, "c.yaml")
    assert result.config is not None
    r: Root = DryRunRoot(str(root)) if dry_run else Root(str(root))
    ctx = RunContext(root=r)
    steps = [run_step(ctx, p) for p in order_stage([result.config], "test")]
    return Run(r, steps), ctx.runner


def test_a_fake_root_never_touches_a_host_device(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    dry, runner = _fake_root_run(root, grow("label: COS_PERSISTENT"), dry_run=True)
    assert dry.statuses == ["planned"]
    (action,) = dry.actions()[0]
    assert action["detail"] == "device not inspected: the root is not the running system"
    assert runner.spawned == 0
    real, runner = _fake_root_run(root, grow("label: COS_PERSISTENT"), dry_run=False)
    assert real.statuses == ["failed"] and runner.spawned == 0
    assert "is not it" in real.reasons()


def test_a_missing_tool_is_a_clear_error_before_any_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    run = host_run(grow("label: COS_PERSISTENT"))
    assert run.statuses == ["failed"]
    assert run.reasons() == "layout: needs sfdisk (util-linux), not found on PATH"


def test_errors_leave_the_disk_as_it_was(tmp_path: Path) -> None:
    with loop_disk(
        tmp_path / "d.img", table="gpt", size=64, parts=[(8, "a", "ext4", "A_T")]
    ) as dev:
        before = table(dev)
        too_big = ADD.replace("DEV", dev).replace("size: 16", "size: 500")
        run = host_run(too_big)
        assert run.statuses == ["failed"]
        assert "not enough free space" in run.reasons()
        long_label = ADD.replace("DEV", dev).replace("XDATA", "MUCH_TOO_LONG_XFS")
        run = host_run(long_label)
        assert "cannot be longer than 12 chars" in run.reasons()
        assert host_run(grow("label: NO_SUCH_LABEL_T")).reasons() == (
            "layout: no device has a filesystem labelled 'NO_SUCH_LABEL_T'"
        )
        assert table(dev) == before


def test_init_disk_writes_a_gpt_only_on_a_blank_disk(tmp_path: Path) -> None:
    text = """stages:
  test:
    - layout:
        device: {path: DEV, init_disk: true}
        add_partitions:
          - {fsLabel: COS_INIT_T, size: 0, pLabel: data, filesystem: ext4}
"""
    image = tmp_path / "blank.img"
    with open(image, "wb") as f:
        f.truncate(64 * MIB)
    device = sh("losetup", "-f", "--show", "-P", str(image)).strip()
    try:
        text = text.replace("DEV", device)
        run = host_run(text)
        assert run.statuses == ["applied"], run.reasons()
        assert table(device)["label"] == "gpt"
        (part,) = partitions(device)
        assert part["name"] == "data" and probe(f"{device}p1")["LABEL"] == "COS_INIT_T"
        before = table(device)
        assert host_run(text).statuses == ["unchanged"]
        assert table(device) == before  # the same table id: not written again
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_swap_cannot_grow(tmp_path: Path) -> None:
    with loop_disk(
        tmp_path / "d.img",
        table="dos",
        size=64,
        parts=[(8, "", "ext4", "E_T"), (8, "", "swap", "SWAP_T")],
    ) as dev:
        before = table(dev)
        run = host_run(grow(f"path: {dev}"))
        assert run.reasons() == "layout: swap resizing is not supported"
        assert table(dev) == before


def _sfdisk_that_refuses(bin_dir: Path, option: str) -> None:
    """An sfdisk that fails when called with `option` (a write the kernel
    refused, say) and is the real one otherwise; first on PATH."""
    bin_dir.mkdir()
    script = bin_dir / "sfdisk"
    script.write_text(f"""#!/bin/sh
case " $* " in *" {option} "*) echo "sfdisk: refused for the test" >&2; exit 1 ;; esac
exec {shutil.which("sfdisk")} "$@"
""")
    script.chmod(0o755)


def test_a_failed_sfdisk_append_stops_the_layout_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loop_disk(
        tmp_path / "d.img", table="gpt", size=400, parts=[(8, "oem", "ext4", "COS_OEM")]
    ) as dev:
        before = table(dev)
        _sfdisk_that_refuses(tmp_path / "bin", "--append")
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
        run = host_run(ADD.replace("DEV", dev))
        assert run.statuses == ["failed"]
        assert "refused for the test" in run.reasons()
        first, *rest = run.actions()[0]
        assert first["exit"] == 1 and "--append" in str(first["command"])
        # partx and both mkfs were not run: a mkfs on a stale node could destroy data.
        assert [str(a["command"]).split()[0].rsplit("/", 1)[-1] for a in rest] == [
            "partx",
            "mkfs.ext4",
            "mkfs.xfs",
        ]
        assert all(
            "exit" not in a
            and a["change"] == "none"
            and str(a["detail"]).startswith("skipped: not run after")
            for a in rest
        )
        assert table(dev) == before and not os.path.exists(f"{dev}p2")


def test_a_failed_grow_stops_before_the_filesystem_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loop_disk(
        tmp_path / "d.img",
        table="gpt",
        size=40,
        grow_to=96,
        parts=[(16, "persistent", "ext4", "COS_STOP_T")],
    ) as dev:
        _sfdisk_that_refuses(tmp_path / "bin", "-N")
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
        before = ext4_bytes(f"{dev}p1")
        run = host_run(grow("label: COS_STOP_T"))
        assert run.statuses == ["failed"]
        ran = [a for a in run.actions()[0] if "exit" in a]
        skipped = [a for a in run.actions()[0] if "exit" not in a]
        assert [a["exit"] for a in ran] == [0, 1]  # the header relocation, then the grow
        assert [str(a["command"]).split()[0].rsplit("/", 1)[-1] for a in skipped] == [
            "partx",
            "e2fsck",
            "resize2fs",
        ]
        assert ext4_bytes(f"{dev}p1") == before


def test_e2fsck_that_corrected_errors_lets_the_grow_go_on(tmp_path: Path) -> None:
    if shutil.which("debugfs") is None:
        pytest.skip("needs debugfs (e2fsprogs)")
    with loop_disk(
        tmp_path / "d.img",
        table="gpt",
        size=40,
        grow_to=96,
        parts=[(16, "persistent", "ext4", "COS_FSCK_T")],
    ) as dev:
        # A wrong free-blocks count: `e2fsck -p` fixes it and exits 1 ("corrected").
        sh("debugfs", "-w", "-R", "ssv free_blocks_count 100", f"{dev}p1")
        before = ext4_bytes(f"{dev}p1")
        run = host_run(grow("label: COS_FSCK_T"))
        assert run.statuses == ["applied"], run.reasons()
        (check,) = [a for a in run.actions()[0] if "e2fsck" in str(a["command"])]
        assert check["exit"] == 1
        assert ext4_bytes(f"{dev}p1") > before * 4
        sh("e2fsck", "-f", "-n", f"{dev}p1")


def _path_without_mount(bin_dir: Path) -> str:
    """A PATH with the layout tools and without mount/umount."""
    bin_dir.mkdir()
    for tool in ("sfdisk", "partx", "blkid", "xfs_growfs", "udevadm"):
        found = shutil.which(tool)
        if found is not None:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_missing_mount_for_an_offline_grow_fails_before_the_table_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loop_disk(
        tmp_path / "d.img", table="dos", size=1024, parts=[(320, "", "xfs", "NOMOUNT")]
    ) as dev:
        before = table(dev)
        with monkeypatch.context() as patch:
            patch.setenv("PATH", _path_without_mount(tmp_path / "bin"))
            run = host_run(grow(f"path: {dev}", size=600))
        assert run.statuses == ["failed"]
        assert run.reasons() == "layout: needs mount (util-linux), not found on PATH"
        assert table(dev) == before


def test_a_mount_point_that_cannot_be_made_is_a_step_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    with loop_disk(
        tmp_path / "d.img", table="dos", size=1024, parts=[(320, "", "xfs", "NOTMP")]
    ) as dev:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
        run = host_run(grow(f"path: {dev}", size=600))  # no traceback
        assert run.statuses == ["failed"]
        assert f"cannot make a directory to mount {dev}p1 on" in run.reasons()


def test_a_busy_mount_keeps_the_real_error_and_logs_the_cleanup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from executor.errors import StepError
    from executor.modules.mounts import in_temporary_mount

    image = tmp_path / "fs.img"
    with open(image, "wb") as f:
        f.truncate(16 * MIB)
    sh("mkfs.ext4", "-q", str(image))
    held: list[int] = []

    def use(where: str) -> None:
        held.append(os.open(os.path.join(where, "busy"), os.O_CREAT | os.O_WRONLY, 0o600))
        held.append(os.open(where, os.O_RDONLY))
        raise StepError("the real error")

    with pytest.raises(StepError, match=r"^the real error$"):
        in_temporary_mount(Runner(), str(image), use, prefix="stage-executor-test.", timeout=60)
    where = os.readlink(f"/proc/self/fd/{held[1]}")
    for fd in held:
        os.close(fd)
    sh("umount", where)
    os.rmdir(where)
    err = capsys.readouterr().err
    assert f"cannot unmount {image} from {where}" in err
    assert f"cannot remove the mount point {where}" in err
