"""The real yip as an oracle: same config, same root copy, compare the trees.

yip acts on the real filesystem, so it only ever runs `chroot`ed in a
throwaway copy of a small hand-made root, inside its own mount, PID, network,
UTS and IPC namespaces (`unshare -m -p -f -n -u -i --mount-proc`): nothing it
does reaches the host. stage-executor runs on a second copy with `--root`, in
the same kind of namespaces (its commands run chrooted there too). Each
copy has the namespace's /proc mounted in, as the initramfs chroot has one,
but read-only: /proc/sys is not all namespaced.

The root is made once per test session from the host's own files: `dash` as
`/bin/sh`, the coreutils the configs' conditions and commands use, `systemctl`
with its libraries, the unit files of /usr/lib/systemd/system, and small
hand-written account files. It is merged-/usr, like a Kairos image.

The shared directory (yip, the Kairos configs, the seed) is found beside the
repository checkout: `../shared` in CI (the checkout has `shared/` beside it),
or the first `shared/` in an ancestor directory, or $STAGE_EXECUTOR_SHARED.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO, SHARED

NAMESPACES = ["unshare", "-m", "-p", "-f", "-n", "-u", "-i", "--mount-proc"]
HOSTNAME = "differential-node"  # the kernel's (in the UTS namespace) and /etc/hostname
YIP_IN_ROOT = "/.yip"  # where yip and its config are put inside the yip copy
RUN_TIMEOUT = 120
# The namespace's /proc, mounted read-only in each copy: /proc/sys is not all
# namespaced (vm.*, fs.* are the host kernel's), so a config's sysctl must
# fail with EROFS there instead of changing the machine the tests run on.
PROC_RO = "-t proc -o ro,nosuid,nodev,noexec proc"

# Host programs copied into the root (with the libraries they load).
PROGRAMS = (
    "dash",
    "cat",
    "grep",
    "sed",
    "mkdir",
    "chmod",
    "chown",
    "ln",
    "rm",
    "cp",
    "mv",
    "touch",
    "ls",
    "head",
    "tail",
    "cut",
    "tr",
    "test",
    "[",
    "true",
    "false",
    "echo",
    "printf",
    "env",
    "readlink",
    "dirname",
    "basename",
    "id",
    "sleep",
    "stat",
    "sort",
    "wc",
    "uname",
    "systemctl",
    "systemd-firstboot",
)
ZONES = ("UTC", "Europe/Rome")  # /usr/share/zoneinfo files copied in (systemd_firstboot)
ZONEINFO = Path("/usr/share/zoneinfo")

# Paths the runs themselves leave that are not part of what a config did.
IGNORED = ("/.yip", "/run/stage-executor", "/run/stage-executor.lock", "/proc")

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
messagebus:x:100:101::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:
sudo:x:27:
users:x:100:
messagebus:x:101:
nogroup:x:65534:
"""


YIP = SHARED / "tools" / "yip" if SHARED else None
SEED = SHARED / "seed" / "sysext-opt.yaml" if SHARED else None


def why_not_runnable() -> str:
    """Empty when the differential can run here; else why not (the skip reason)."""
    if YIP is None or not YIP.is_file():
        return "the real yip is not here (../shared/tools/yip beside the checkout)"
    if os.geteuid() != 0:
        return "running yip chrooted in namespaces needs root"
    for tool in ("unshare", "chroot", "mount", "hostname", "ldd", *PROGRAMS):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    missing = [zone for zone in ZONES if not (ZONEINFO / zone).is_file()]
    if missing:
        return f"{', '.join(str(ZONEINFO / z) for z in missing)} missing (apt-get install tzdata)"
    return ""


# --- the root ---------------------------------------------------------------


def build_base_root(root: Path) -> Path:
    """Make the hand-made root at `root` (see the module docstring)."""
    for d in (
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "etc/systemd/system",
        "run",
        "var/lib",
        "root",
        "home",
        "proc",
        "sys",
        "dev",
        "oem",
        "usr/local/bin",
        "usr/local/cloud-config",
        "system/oem",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        (root / link).symlink_to(f"usr/{link}")
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    os.mknod(root / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(root / "dev/null", 0o666)
    libs: set[str] = set()
    for name in PROGRAMS:
        host = shutil.which(name)
        assert host, name
        real = os.path.realpath(host)
        dest = root / real.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real, dest)
        libs.update(_libraries(real))
    (root / "usr/bin/sh").symlink_to("dash")
    for lib in sorted(libs):
        dest = root / os.path.realpath(os.path.dirname(lib)).lstrip("/") / os.path.basename(lib)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copy2(os.path.realpath(lib), dest)
    for zone in ZONES:
        dest = root / "usr/share/zoneinfo" / zone
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(ZONEINFO / zone), dest)
    if os.path.isdir("/usr/lib/locale/C.utf8"):  # the locale systemd-firstboot finds installed
        shutil.copytree("/usr/lib/locale/C.utf8", root / "usr/lib/locale/C.utf8")
    shutil.copytree(
        "/usr/lib/systemd/system",
        root / "usr/lib/systemd/system",
        symlinks=True,
        dirs_exist_ok=True,
    )
    etc = {
        "passwd": PASSWD,
        "group": GROUP,
        "shadow": "".join(
            f"{line.split(':')[0]}:*:19000:0:99999:7:::\n" for line in PASSWD.splitlines()
        ),
        "gshadow": "".join(f"{line.split(':')[0]}:*::\n" for line in GROUP.splitlines()),
        "hostname": HOSTNAME + "\n",
        "hosts": "127.0.0.1 localhost\n",
    }
    for name, text in etc.items():
        (root / "etc" / name).write_text(text)
    os.chmod(root / "etc/shadow", 0o640)
    os.chmod(root / "etc/gshadow", 0o640)
    (root / "usr/lib/os-release").write_text(Path("/usr/lib/os-release").read_text())
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    (root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    return root


def _libraries(program: str) -> list[str]:
    done = subprocess.run(["ldd", program], capture_output=True, text=True, check=False)
    found = []
    for line in done.stdout.splitlines():
        words = line.split()
        for word in words:
            if word.startswith("/"):
                found.append(word)
                break
    return found


def copy_root(base: Path, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(base), str(dest)], check=True)
    return dest


# --- the runs ---------------------------------------------------------------


@dataclass
class Case:
    """One differential case: a config, the stages to run in order, the root's state."""

    name: str
    config: Path
    stages: tuple[str, ...]
    markers: tuple[str, ...] = ()  # /run/cos/NAME files
    systemctl: bool = True  # keep /usr/bin/systemctl in the root
    prepare: dict[str, str | None] = field(default_factory=dict)  # extra files (None: dir)


@dataclass
class Run:
    returncodes: list[int]
    output: str


def prepare_root(root: Path, case: Case) -> None:
    for marker in case.markers:
        (root / "run/cos").mkdir(parents=True, exist_ok=True)
        (root / "run/cos" / marker).write_text("")
    if not case.systemctl:
        (root / "usr/bin/systemctl").unlink()
    for rel, content in case.prepare.items():
        path = root / rel.lstrip("/")
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        elif content.startswith("->"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(content[2:].strip())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)


def _start(script: str, args: list[str]) -> subprocess.Popen[str]:
    """Start `script` (sh) with `args` in fresh namespaces; each run in it prints
    its exit status as `@rc N` on a line of its own."""
    argv = [*NAMESPACES, "sh", "-c", f"hostname {HOSTNAME}; {script}", "sh", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8", "NO_COLOR": "1"}
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def finish(proc: subprocess.Popen[str]) -> Run:
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    rcs = [int(line.split()[1]) for line in output.splitlines() if line.startswith("@rc ")]
    return Run(rcs, output)


def start_yip(root: Path, case: Case) -> subprocess.Popen[str]:
    """yip -s STAGE for each stage, chrooted in `root` (its binary bind-mounted in)."""
    assert YIP is not None
    inside = root / YIP_IN_ROOT.lstrip("/")
    inside.mkdir()
    (inside / "yip").write_bytes(b"")
    shutil.copy(case.config, inside / case.config.name)
    cfg = f"{YIP_IN_ROOT}/{case.config.name}"
    script = (
        f'mount --bind "$1" "$2{YIP_IN_ROOT}/yip" && mount {PROC_RO} "$2/proc" && '
        "shift 2 && "
        f'for s in "$@"; do chroot "{root}" {YIP_IN_ROOT}/yip -s "$s" {cfg} 2>&1; '
        'echo "@rc $?"; done'
    )
    return _start(script, [str(YIP), str(root), *case.stages])


def start_ours(root: Path, case: Case) -> subprocess.Popen[str]:
    """stage-executor apply -s STAGE --root ROOT for each stage."""
    script = (
        f'mount {PROC_RO} "$1/proc" && '
        f'r="$1"; c="$2"; shift 2; for s in "$@"; do "{sys.executable}" -m executor '
        'apply -s "$s" --root "$r" --no-cmdline "$c" 2>&1; echo "@rc $?"; done'
    )
    return _start(script, [str(root), str(case.config), *case.stages])


# --- the trees --------------------------------------------------------------


Entry = tuple[object, ...]


def scan(root: Path) -> dict[str, Entry]:
    """Every path of the tree: (kind, mode, uid, gid, content or target)."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(path, root)
            if any(rel == i or rel.startswith(i + "/") for i in IGNORED):
                continue
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", None, st.st_uid, st.st_gid, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode, st.st_uid, st.st_gid, None)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", mode, st.st_uid, st.st_gid, Path(path).read_bytes())
            else:
                out[rel] = ("other", mode, st.st_uid, st.st_gid, st.st_rdev)
    return out


@dataclass(frozen=True)
class Diff:
    path: str
    yip: Entry | None
    ours: Entry | None
    base: Entry | None  # the path before the runs

    def describe(self) -> str:
        return f"{self.path}: yip {_show(self.yip)} / ours {_show(self.ours)}" + (
            f" (before: {_show(self.base)})" if self.base else " (new)"
        )


def _show(entry: Entry | None) -> str:
    if entry is None:
        return "absent"
    kind, mode, uid, gid, payload = entry
    head = f"{kind} {mode:04o} {uid}:{gid}" if mode is not None else f"{kind} {uid}:{gid}"
    if kind == "link":
        return f"{head} -> {payload}"
    if kind == "file":
        data = payload if isinstance(payload, bytes) else b""
        return f"{head} {len(data)}B {data[:60]!r}"
    return head


def differences(
    yip: dict[str, Entry], ours: dict[str, Entry], base: dict[str, Entry]
) -> list[Diff]:
    paths = sorted(set(yip) | set(ours))
    return [
        Diff(p, yip.get(p), ours.get(p), base.get(p)) for p in paths if yip.get(p) != ours.get(p)
    ]


def show(diffs: Iterable[Diff]) -> str:
    return "\n".join(d.describe() for d in diffs)
