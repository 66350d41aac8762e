"""`layout`: grow the last partition and add partitions, as yip's layout plugin.

The disk is `device.path` (`script://CMD ARGS`: what CMD prints), or the
disk holding the filesystem labelled `device.label` (/dev/disk/by-label,
else `blkid`). `add_partitions` come
first: a partition whose `pLabel` (GPT name) already exists, or, without a
pLabel or on an MBR disk, whose `fsLabel` is already on the disk, is left
alone, so a second run changes nothing; each new one is `size` MiB (0: all
the space left) and gets its filesystem (default ext2; `-`, `none`,
`noformat`: none) with `fsLabel`. When partitions are asked for and less
than 32 MiB is free, nothing is done (yip's rule). Then `expand_partition`
grows the LAST partition to `size` MiB (0: to the end of the disk) and its
filesystem with it (ext2/3/4, xfs, btrfs; swap and FAT cannot grow).

It is done with the tools a Kairos image carries, through the runner:
`sfdisk` (util-linux) for the table, `partx` to tell the kernel, `blkid` to
read labels and filesystems, `mkfs.*`/`mkswap`, `e2fsck`+`resize2fs`,
`xfs_growfs`, `btrfs`. A tool that is missing is a step error, named, before
anything changes. Unlike yip, which handles GPT only, MBR disks work too;
and a partition already at its size is "unchanged" where yip reports an
error, so the stock "Grow persistent" step is quiet on every later boot.

Devices are the running system's: the planner inspects the disk (read-only)
only when the root is `/`. A dry-run there shows the exact commands; a
dry-run against another root inspects nothing and says so; a real run
against another root is an error.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
from collections.abc import Mapping
from typing import Any

from executor.actions import CREATE, NONE, UPDATE, Action
from executor.context import RunContext
from executor.errors import StepError
from executor.record import dataclass, field
from executor.runner import Runner

MIB = 1 << 20
SCRIPT_SCHEME = "script://"  # device.path from a command's output, as in yip
MIN_FREE_MIB = 32  # yip: less unpartitioned space than this and no partition is added
GPT_TAIL = 34  # sectors after the last usable one: backup entries and header
INSPECT_TIMEOUT = 60.0
NO_FORMAT = ("-", "none", "noformat")
EXT = ("ext2", "ext3", "ext4")
FAT = ("fat", "vfat", "fat16", "fat32")
FILESYSTEMS = EXT + FAT + ("xfs", "btrfs", "swap") + NO_FORMAT

# GPT partition type GUIDs and MBR type codes, by role.
GPT_TYPES = {
    "linux": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    "bios": "21686148-6449-6E6F-744E-656564454649",
    "data": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
    "efi": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    "swap": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
}
MBR_TYPES = {"linux": "83", "bios": "83", "data": "c", "efi": "ef", "swap": "82"}


@dataclass
class Part:
    number: int
    start: int  # sectors
    size: int  # sectors
    node: str
    name: str = ""  # GPT partition name (pLabel)
    fstype: str = ""
    label: str = ""  # filesystem label (fsLabel)
    bootable: bool = False

    @property
    def end(self) -> int:
        return self.start + self.size - 1


@dataclass
class Disk:
    device: str
    table: str  # gpt or dos
    sector: int
    sectors: int  # whole disk
    last_usable: int
    parts: list[Part] = field(default_factory=list)
    relocate: bool = False  # the GPT backup header is not at the end (the disk grew)


class Inspector:
    """Read-only questions about a disk, asked through the runner."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def tool(self, name: str, package: str) -> str:
        import shutil

        found = shutil.which(name)
        if found is None:
            raise StepError(f"needs {name} ({package}), not found on PATH")
        return found

    def output(self, argv: list[str]) -> str:
        done = self.runner.run(argv, timeout=INSPECT_TIMEOUT)
        if not done.ok:
            raise StepError(f"`{shlex.join(argv)}` failed: {done.output.strip()}")
        return done.output

    def probe(self, device: str, offset: int = 0) -> dict[str, str]:
        """blkid's low-level probe of a filesystem at `offset` bytes of `device`."""
        argv = [self.tool("blkid", "util-linux"), "-p", "-o", "export"]
        if offset:
            argv += ["-O", str(offset)]
        done = self.runner.run([*argv, device], timeout=INSPECT_TIMEOUT, expected=(0, 2))
        if not done.ok:  # 2: nothing found there
            return {}
        pairs = (line.partition("=") for line in done.output.splitlines())
        return {k: v for k, sep, v in pairs if sep}

    def by_label(self, label: str) -> str:
        link = posixpath.join("/dev/disk/by-label", label)
        if os.path.exists(link):
            return os.path.realpath(link)
        argv = [
            self.tool("blkid", "util-linux"),
            "-c",
            "/dev/null",
            "-o",
            "device",
            "-t",
            f"LABEL={label}",
        ]
        done = self.runner.run(argv, timeout=INSPECT_TIMEOUT, expected=(0, 2))  # 2: no such label
        devices = done.output.split() if done.ok else []
        if not devices:
            raise StepError(f"no device has a filesystem labelled {label!r}")
        return devices[0]

    def read_disk(self, device: str) -> Disk:
        sfdisk = self.tool("sfdisk", "util-linux")
        done = self.runner.run([sfdisk, "--json", device], timeout=INSPECT_TIMEOUT)
        if not done.ok:
            raise StepError(f"cannot read the partition table of {device}: {done.output.strip()}")
        try:
            # stderr is in the output too (a warning about a moved backup header)
            text = done.output[done.output.index("{") : done.output.rindex("}") + 1]
            table: dict[str, Any] = json.loads(text)["partitiontable"]
        except (ValueError, KeyError, TypeError):
            raise StepError(f"unexpected `sfdisk --json {device}` output") from None
        sector = int(table.get("sectorsize", 512))
        sectors = device_bytes(device) // sector
        label = str(table.get("label", ""))
        if label not in ("gpt", "dos"):
            raise StepError(
                f"{device} has a {label or 'unknown'} partition table; only GPT and MBR are handled"
            )
        if label == "gpt":
            usable = sectors - GPT_TAIL - 1
            last = int(table.get("lastlba", usable))
        else:
            usable = last = sectors - 1
        disk = Disk(device, label, sector, sectors, usable, relocate=last < usable)
        for entry in table.get("partitions", []):
            node = str(entry["node"])
            part = Part(
                partition_number(node),
                int(entry["start"]),
                int(entry["size"]),
                node,
                name=str(entry.get("name", "")),
            )
            found = self.probe(device, part.start * sector)
            part.fstype, part.label = found.get("TYPE", ""), found.get("LABEL", "")
            disk.parts.append(part)
        return disk


def device_bytes(device: str) -> int:
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise StepError(f"cannot open {device}: {exc.strerror}") from None
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def logical_sector(device: str) -> int:
    """The logical sector size the kernel gives a block device (512 for a file)."""
    name = posixpath.basename(os.path.realpath(device))
    try:
        with open(f"/sys/class/block/{name}/queue/logical_block_size", encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 512


def partition_number(node: str) -> int:
    digits = ""
    for c in reversed(node):
        if not c.isdigit():
            break
        digits = c + digits
    if not digits:
        raise StepError(f"cannot tell the partition number of {node}")
    return int(digits)


def partition_node(disk: str, number: int) -> str:
    """sda -> sda3; nvme0n1, mmcblk0, loop0 -> ...p3 (a name ending in a digit)."""
    return f"{disk}p{number}" if disk[-1:].isdigit() else f"{disk}{number}"


def parent_disk(device: str) -> str:
    """The whole disk a partition node belongs to (sysfs), or `device` itself."""
    if not device.startswith("/dev/"):
        return device  # an image file
    name = posixpath.basename(os.path.realpath(device))
    sys_dir = os.path.realpath(posixpath.join("/sys/class/block", name))
    if not os.path.exists(posixpath.join(sys_dir, "partition")):
        return device
    return posixpath.join("/dev", posixpath.basename(posixpath.dirname(sys_dir)))


def script_device(runner: Runner, path: str) -> str:
    """yip's `script://CMD ARGS`: the device is what CMD prints (no shell)."""
    argv = path[len(SCRIPT_SCHEME) :].split()
    if not argv:
        raise StepError("script:// prefix provided but no command specified")
    done = runner.run(argv, timeout=INSPECT_TIMEOUT)
    if not done.ok:
        raise StepError(
            f"device script {argv[0]!r} failed ({done.describe()}): {done.output.strip()[-400:]}"
        )
    device = done.output.strip()
    if not device or "\n" in device:
        raise StepError(f"device script {argv[0]!r} printed {device!r}, not one device")
    return device


def plan_layout(ctx: RunContext, modules: Mapping[str, object]) -> list[Action]:
    spec = modules.get("layout")
    if not isinstance(spec, Mapping):
        return []
    device = spec.get("device")
    if not isinstance(device, Mapping):
        return []  # yip: no device, nothing to do
    path, label = str(device.get("path") or "").strip(), str(device.get("label") or "").strip()
    parts = [p for p in spec.get("add_partitions") or [] if isinstance(p, Mapping)]
    expand = spec.get("expand_partition")
    check_partitions(parts)
    if device.get("init_disk") and (not path or label):
        raise StepError("init_disk needs device.path (and no device.label)")
    if not path and not label:
        return []  # yip: no usable device given, a warning and nothing done
    wanted = f"device {path}" if path else f"label {label}"
    if not ctx.root.is_host_root:
        if not ctx.dry_run:
            raise StepError(
                f"{wanted} would be a device of the running system, and"
                f" the root {ctx.root.path} is not it"
            )
        return [
            Action(
                "layout",
                change=UPDATE,
                command=f"layout of {wanted}",
                detail="device not inspected: the root is not the running system",
            )
        ]
    inspect = Inspector(ctx.runner)
    for tool in ("sfdisk", "partx", "blkid"):
        inspect.tool(tool, "util-linux")
    if path.startswith(SCRIPT_SCHEME):
        if ctx.dry_run:
            return [
                Action(
                    "layout",
                    change=UPDATE,
                    command=f"layout of {wanted}",
                    detail="device not inspected: a dry-run runs no device script",
                )
            ]
        path = script_device(ctx.runner, path)
    actions: list[Action] = []
    disk_path = path if path else parent_disk(inspect.by_label(label))
    if device.get("init_disk") and not inspect.probe(disk_path).get("PTTYPE"):
        actions.append(
            device_action(
                inspect, ["sfdisk", disk_path], CREATE, stdin="label: gpt\n", what="new GPT table"
            )
        )
        sector = logical_sector(disk_path)
        disk = Disk(disk_path, "gpt", sector, device_bytes(disk_path) // sector, 0)
        disk.last_usable = disk.sectors - GPT_TAIL - 1
    else:
        disk = inspect.read_disk(disk_path)
    if disk.relocate:
        actions.append(
            device_action(
                inspect,
                [
                    "sfdisk",
                    "--no-reread",
                    "--no-tell-kernel",
                    "--relocate",
                    "gpt-bak-std",
                    disk.device,
                ],
                UPDATE,
                what="move the backup GPT header to the end of the disk",
            )
        )
    new = plan_new_partitions(disk, parts)
    if new is None:
        return actions  # too little free space: yip does nothing at all
    grow = plan_growth(disk, new, expand) if isinstance(expand, Mapping) else None
    actions += partition_actions(inspect, disk, new)
    if grow is not None:
        actions += grow_actions(inspect, disk, grow)
    if not actions and (parts or expand is not None):
        actions.append(Action("layout", disk.device, NONE, detail="already as configured"))
    return actions


def check_partitions(parts: list[Mapping[str, Any]]) -> None:
    for p in parts:
        fs = str(p.get("filesystem") or "ext2")
        if fs not in FILESYSTEMS:
            raise StepError(f"unsupported filesystem type: {fs}")
        if fs == "xfs" and len(str(p.get("fsLabel") or "")) > 12:
            raise StepError(
                f"xfs filesystem label {p.get('fsLabel')} cannot be longer than 12 chars"
            )


def plan_new_partitions(disk: Disk, parts: list[Mapping[str, Any]]) -> list[Part] | None:
    """The partitions to create, placed after the last one; None: too little space."""
    if not parts:
        return []
    align = MIB // disk.sector
    if free_sectors(disk) < MIN_FREE_MIB * align:
        from executor.log import log

        log.warning(
            "layout: less than %d MiB unpartitioned on %s, no partition added",
            MIN_FREE_MIB,
            disk.device,
        )
        return None
    new: list[Part] = []
    numbers = [p.number for p in disk.parts]
    end = max((p.end for p in disk.parts), default=align - 1)
    for p in parts:
        if exists(disk, p):
            continue
        start = -(-(end + 1) // align) * align  # next MiB boundary
        size_mib = int(p.get("size") or 0)
        available = disk.last_usable - start + 1
        size = available if size_mib == 0 else size_mib * align
        if size <= 0 or size > available:
            raise StepError(
                f"not enough free space in disk {disk.device}: required"
                f" {size_mib} MiB, available {max(available, 0) // align} MiB"
            )
        number = max(numbers, default=0) + 1
        numbers.append(number)
        part = Part(
            number,
            start,
            size,
            partition_node(disk.device, number),
            name=str(p.get("pLabel") or ""),
            fstype=str(p.get("filesystem") or "ext2"),
            label=str(p.get("fsLabel") or ""),
            bootable=bool(p.get("bootable")),
        )
        new.append(part)
        end = part.end
    return new


def exists(disk: Disk, p: Mapping[str, Any]) -> bool:
    plabel, fslabel = str(p.get("pLabel") or ""), str(p.get("fsLabel") or "")
    if plabel and disk.table == "gpt":
        return any(q.name == plabel for q in disk.parts)
    return bool(fslabel) and any(q.label == fslabel for q in disk.parts)


def free_sectors(disk: Disk) -> int:
    end = max((p.end for p in disk.parts), default=MIB // disk.sector - 1)
    return disk.last_usable - end


def plan_growth(disk: Disk, new: list[Part], expand: Mapping[str, Any]) -> Part | None:
    """The last partition, at its new size; None when it already is that size."""
    everything = disk.parts + new
    if not everything:
        raise StepError("no partition to expand")
    last = max(everything, key=lambda p: p.number)
    if last.fstype == "swap":
        raise StepError("swap resizing is not supported")
    if last.fstype in FAT:
        raise StepError("FAT partition resizing is not supported")
    size_mib = int(expand.get("size") or 0)
    align = MIB // disk.sector
    end = disk.last_usable if size_mib == 0 else last.start + size_mib * align - 1
    if end > disk.last_usable:
        raise StepError(
            f"not enough free space in disk {disk.device}: need"
            f" {size_mib} MiB from sector {last.start}, the disk ends at sector"
            f" {disk.last_usable}"
        )
    # Within the last MiB counts as done: the aligned end sfdisk leaves is not the last sector.
    if end - last.end < align:
        return None
    last.size = end - last.start + 1
    return None if last in new else last


def device_action(
    inspect: Inspector,
    argv: list[str],
    change: str,
    *,
    stdin: str = "",
    what: str = "",
    op: str = "run",
    path: str = "",
    ok: tuple[int, ...] = (0,),
) -> Action:
    """One device command; `ok`: the exit codes that mean it worked."""
    tool = argv[0] if argv[0].startswith("/") else inspect.tool(argv[0], _package(argv[0]))
    argv = [tool, *argv[1:]]
    shown = shlex.join(argv) + (f" <<< {stdin.strip()!r}" if stdin else "")
    data = json.dumps(
        {"op": op, "argv": argv, "stdin": stdin, "path": path, "ok": list(ok)}
    ).encode()
    return Action("layout", path or argv[-1], change, command=shown, data=data, detail=what)


def _package(tool: str) -> str:
    if tool.startswith(("mkfs.ext", "e2fsck", "resize2fs")):
        return "e2fsprogs"
    if "xfs" in tool:
        return "xfsprogs"
    if tool == "mkfs.fat":
        return "dosfstools"
    if "btrfs" in tool:
        return "btrfs-progs"
    return "util-linux"


def partition_actions(inspect: Inspector, disk: Disk, new: list[Part]) -> list[Action]:
    if not new:
        return []
    lines = []
    for part in new:
        role = partition_role(part)
        types = GPT_TYPES if disk.table == "gpt" else MBR_TYPES
        line = f"start={part.start}, size={part.size}, type={types[role]}"
        if disk.table == "gpt" and part.name:
            line += f", name={json.dumps(part.name)}"
        if part.bootable:
            line += (
                ", attrs=LegacyBIOSBootable"
                if role == "bios"
                else ", attrs=RequiredPartition"
                if disk.table == "gpt"
                else ", bootable"
            )
        lines.append(line)
    names = ", ".join(p.name or p.label or str(p.number) for p in new)
    actions = [
        device_action(
            inspect,
            ["sfdisk", "--append", "--no-reread", "--no-tell-kernel", disk.device],
            CREATE,
            stdin="\n".join(lines) + "\n",
            what=f"add partitions: {names}",
        )
    ]
    actions += tell_kernel(inspect, disk)
    for part in new:
        if part.fstype in NO_FORMAT:
            continue
        actions.append(
            device_action(
                inspect,
                mkfs_argv(part),
                CREATE,
                path=part.node,
                what=f"{part.fstype} on partition {part.number}",
            )
        )
    return actions


def partition_role(part: Part) -> str:
    bootable = part.bootable
    if part.fstype == "swap":
        return "swap"
    if part.fstype in FAT:
        return "efi" if bootable else "data"
    return "bios" if bootable else "linux"


def mkfs_argv(part: Part) -> list[str]:
    if part.fstype == "swap":
        return ["mkswap"] + (["-L", part.label] if part.label else []) + [part.node]
    if part.fstype in FAT:
        return ["mkfs.fat"] + (["-n", part.label] if part.label else []) + [part.node]
    argv = [f"mkfs.{part.fstype}"] + (["-L", part.label] if part.label else [])
    if part.fstype == "btrfs":
        argv.append("-f")
    return [*argv, part.node]


def tell_kernel(inspect: Inspector, disk: Disk) -> list[Action]:
    """partx -u (what yip's BLKPG calls do), then wait for udev when it runs."""
    import shutil

    if not disk.device.startswith("/dev/"):
        return []  # an image file has no partitions in the kernel
    actions = [device_action(inspect, ["partx", "-u", disk.device], UPDATE, what="tell the kernel")]
    udevadm = shutil.which("udevadm")
    if udevadm is not None and os.path.isdir("/run/udev/control"):
        actions.append(
            device_action(
                inspect, [udevadm, "settle"], UPDATE, what="wait for the partition devices"
            )
        )
    return actions


def grow_actions(inspect: Inspector, disk: Disk, part: Part) -> list[Action]:
    what = f"grow partition {part.number} to {part.size * disk.sector // MIB} MiB"
    actions = [
        device_action(
            inspect,
            ["sfdisk", "--no-reread", "--no-tell-kernel", "-N", str(part.number), disk.device],
            UPDATE,
            stdin=f"{part.start}, {part.size}\n",
            what=what,
        )
    ]
    actions += tell_kernel(inspect, disk)
    mounted = mount_point(part.node)
    fs = part.fstype
    if fs in EXT:
        if mounted is None:
            # e2fsck exits 1 when it corrected errors: checked and fit to resize.
            actions.append(
                device_action(
                    inspect,
                    ["e2fsck", "-f", "-p", part.node],
                    UPDATE,
                    what="check before resizing",
                    ok=(0, 1),
                )
            )
        actions.append(
            device_action(
                inspect, ["resize2fs", part.node], UPDATE, what=f"grow the {fs} filesystem"
            )
        )
    elif fs in ("xfs", "btrfs"):
        tool = ["xfs_growfs"] if fs == "xfs" else ["btrfs", "filesystem", "resize", "max"]
        op = "run" if mounted is not None else "mounted"
        if mounted is None:  # mounted for the grow: the tools, before anything changes
            for tool_name in ("mount", "umount"):
                inspect.tool(tool_name, "util-linux")
        actions.append(
            device_action(
                inspect,
                [*tool, mounted or part.node],
                UPDATE,
                op=op,
                path=part.node,
                what=f"grow the {fs} filesystem",
            )
        )
    elif fs:
        raise StepError(f"cannot grow a {fs} filesystem on {part.node}")
    return actions


def mount_point(node: str) -> str | None:
    """Where the block device `node` is mounted (by device number), if it is."""
    try:
        rdev = os.stat(node).st_rdev
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(rdev)}:{os.minor(rdev)}"
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and fields[2] == wanted:
            return fields[4].replace("\\040", " ")
    return None


def apply_layout(ctx: RunContext, action: Action) -> None:
    """Run one planned device command; an ephemeral mount for an offline grow."""
    import shlex as _shlex

    plan = json.loads(action.data or b"{}")
    argv: list[str] = plan["argv"]
    stdin = plan.get("stdin", "")
    if plan.get("op") == "mounted":
        output = _grow_mounted(ctx, argv, plan["path"])
    else:
        ok_statuses = plan.get("ok", [0])
        done = ctx.runner.run(
            argv,
            timeout=ctx.timeout,
            stdin=stdin.encode() if stdin else None,
            expected=ok_statuses,
        )
        action.exit, output = done.returncode, done.output
        if done.timed_out or done.returncode not in ok_statuses:
            action.output = output[-4096:]
            raise StepError(
                f"`{_shlex.join(argv)}` failed: {done.describe()}: {output.strip()[-400:]}"
            )
    action.output = output[-4096:]


def _grow_mounted(ctx: RunContext, argv: list[str], node: str) -> str:
    """Mount `node` in a temporary directory, run `argv` on it, unmount."""
    from executor.modules.mounts import in_temporary_mount

    def grow(where: str) -> str:
        grown = ctx.runner.run([*argv[:-1], where], timeout=ctx.timeout)
        if not grown.ok:
            raise StepError(
                f"`{shlex.join(argv[:-1])} {where}` failed: {grown.output.strip()[-400:]}"
            )
        return grown.output

    return in_temporary_mount(
        ctx.runner, node, grow, prefix="stage-executor-grow.", timeout=ctx.timeout, why="to grow it"
    )
