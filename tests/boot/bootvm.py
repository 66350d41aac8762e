#!/usr/bin/env python3
"""Boot a real Debian 12 machine with stage-executor installed, and collect evidence.

What it does, as a distribution would:

1. base image (cached): debootstrap bookworm from the mirror apt is configured
   with, dracut installed before the kernel so the kernel's initrd is a
   systemd dracut initrd, then the kernel. Kept under the cache directory,
   keyed on its inputs, so later runs start from step 2.
2. guest tree: a copy of the base with a wheel of this worktree installed into
   /usr/lib/python3/dist-packages plus /usr/bin/stage-executor, python3-yaml
   and python3-psutil from Debian, the units of systemd/ (enabled), the dracut
   module of systemd/dracut/ (the initrd is rebuilt with it; cached on its
   inputs too), configs in /oem, and a few test-only units: one the boot stage
   enables and starts, one ordered after multi-user.target that the boot stage
   starts, and a report unit that writes its evidence as a tar stream onto a
   second disk and powers the machine off.
3. disk: `mkfs.ext4 -d` of the tree (no loop mount), booted with
   qemu-system-x86_64 (KVM when it works, else TCG), no network device,
   serial console to a log file.

Usage (as root): `python3 tests/boot/bootvm.py [--out DIR] [--cache DIR]`
boots three times (first boot, second boot of the same disk, a UKI-mode boot
of a fresh disk), prints timings and `systemd-analyze blame`, and leaves each
boot's evidence in OUT/<boot>/. tests/boot/test_boot.py asserts on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
GUEST_FILES = HERE / "guest"
SUITE = "bookworm"
DEFAULT_CACHE = Path(os.environ.get("STAGE_EXECUTOR_BOOT_CACHE", "/var/cache/stage-executor-boot"))
# debootstrap --include: systemd as init, D-Bus as on a real node, dracut
# (installed with the base, so before the kernel), Python and the two
# runtime dependencies from Debian.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "dracut",
    "python3",
    "python3-yaml",
    "python3-psutil",
)
KERNEL_PACKAGE = "linux-image-amd64"
# A generic initrd: building it in a chroot must not look at this machine's disks.
DRACUT_CONF = 'hostonly="no"\n'
BASE_RECIPE = 1  # bump when base_image() changes what it builds
UNITS_ENABLED = (
    "stage-executor-fs.service",
    "stage-executor-boot.service",
    "stage-executor-network.service",
    "stage-executor-reconcile.timer",
    "boot-test-report.service",
)
KERNEL_ARGS = (
    "root=LABEL=root",
    "rw",
    "console=ttyS0",
    "systemd.firstboot=off",
    "panic=-1",
    "rd.shell=0",
    "systemd.show_status=yes",
)
# The UKI boot's marker comes from a kernel command-line step, as a UKI's
# embedded command line would carry it.
UKI_ARGS = (
    "stages.initramfs.before[0].name=uki-marker",
    "stages.initramfs.before[0].files[0].path=/run/cos/uki_boot_mode",
    "stages.initramfs.before[0].files[0].content=uki",
)
BOOT_TIMEOUT = 900  # seconds a boot may take under TCG on a loaded machine


def say(message: str) -> None:
    print(f"[boot {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    say("$ " + " ".join(argv))
    return subprocess.run(list(argv), check=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def missing_tools() -> list[str]:
    """The host tools the boot needs that are not installed."""
    tools = ("debootstrap", "qemu-system-x86_64", "mkfs.ext4", "unshare", "chroot")
    return [t for t in tools if shutil.which(t) is None]


# ---------------------------------------------------------------- mirror


def apt_mirror(suite: str = SUITE) -> str:
    """The Debian mirror apt is configured with for `suite` (one-line or deb822 sources)."""
    override = os.environ.get("STAGE_EXECUTOR_BOOT_MIRROR")
    if override:
        return override
    for path in apt_source_files():
        text = path.read_text(errors="replace")
        for uri, suites in source_entries(text, deb822=path.suffix == ".sources"):
            if suite in suites:
                return uri
    raise SystemExit(
        f"no apt source for Debian {suite} in /etc/apt/sources.list*;"
        " set STAGE_EXECUTOR_BOOT_MIRROR"
    )


def apt_source_files() -> list[Path]:
    files = [Path("/etc/apt/sources.list")]
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        files += sorted(p for p in d.iterdir() if p.suffix in (".list", ".sources"))
    return [p for p in files if p.is_file()]


def source_entries(text: str, *, deb822: bool) -> Iterator[tuple[str, list[str]]]:
    """(URI, suites) of each binary `deb` entry."""
    if not deb822:
        for line in text.splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                yield words[1], [words[2]]
        return
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split()


# ---------------------------------------------------------------- base image


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def http_proxy() -> str:
    """The HTTP proxy apt uses here, if any, for debootstrap and the chroot's apt."""
    if os.environ.get("http_proxy"):
        return os.environ["http_proxy"]
    try:
        done = subprocess.run(
            ["apt-config", "shell", "P", "Acquire::http::Proxy"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    m = re.match(r"P='([^']*)'", done.stdout.strip())
    return m.group(1) if m else ""


def in_chroot(root: Path, command: str, *, log: Path | None = None) -> None:
    """Run `command` with /bin/sh in `root`, with /proc, /sys and /dev mounted in a
    private mount namespace (nothing stays mounted afterwards, even on failure)."""
    proxy = http_proxy()
    script = (
        f"set -e; mount -t proc proc {root}/proc; mount -t sysfs sys {root}/sys;"
        f" mount --rbind /dev {root}/dev;"
        f" exec chroot {root} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin"
        f" DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 http_proxy='{proxy}'"
        f" /bin/sh -c '{command}'"
    )
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    if log is None:
        run(argv)
        return
    with log.open("a") as out:
        say(f"$ chroot {root} {command}  (log: {log})")
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        sys.stdout.write(log.read_text()[-4000:])
        raise SystemExit(f"failed in the chroot ({done.returncode}): {command}")


def base_image(cache: Path, timings: dict[str, float]) -> Path:
    """A bookworm root with systemd, dracut, Python and a kernel; built once per key."""
    mirror = apt_mirror()
    key = digest(
        str(BASE_RECIPE), SUITE, mirror, " ".join(BASE_PACKAGES), KERNEL_PACKAGE, DRACUT_CONF
    )
    done = cache / f"base-{key}"
    if (done / "root/boot").is_dir() and (done / "complete").exists():
        say(f"base image: cached {done}")
        return done / "root"
    start = time.monotonic()
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"base-{key}.", dir=cache))
    root = building / "root"
    log = building / "build.log"
    say(f"base image: building {key} from {mirror} (log: {log})")
    with log.open("w") as out:
        env = dict(os.environ, http_proxy=http_proxy()) if http_proxy() else None
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                SUITE,
                str(root),
                mirror,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            env=env,
        )
    timings["debootstrap"] = time.monotonic() - start
    (root / "etc/dracut.conf.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dracut.conf.d/10-generic.conf").write_text(DRACUT_CONF)
    # The kernel's postinst hook makes the initrd with dracut, already installed.
    in_chroot(
        root,
        f"apt-get install -y -q --no-install-recommends {KERNEL_PACKAGE} && apt-get clean",
        log=log,
    )
    configure_base(root)
    (building / "complete").write_text(key + "\n")
    shutil.rmtree(done, ignore_errors=True)
    building.rename(done)
    for stale in cache.glob("base-*"):  # images of other inputs: 700 MB each
        if stale != done and (stale / "complete").exists():
            shutil.rmtree(stale, ignore_errors=True)
    timings["base image"] = time.monotonic() - start
    return done / "root"


def configure_base(root: Path) -> None:
    (root / "etc/hostname").write_text("boot-test\n")
    (root / "etc/fstab").write_text("LABEL=root / ext4 rw,errors=remount-ro 0 0\n")
    # A fixed machine id: no first-boot set-up, the same journal directory each boot.
    (root / "etc/machine-id").write_text("5e1ec7ab1e5e1ec7ab1e5e1ec7ab1e00\n")


def kernel_version(root: Path) -> str:
    found = sorted(p.name.removeprefix("vmlinuz-") for p in (root / "boot").glob("vmlinuz-*"))
    if not found:
        raise SystemExit(f"no kernel in {root}/boot")
    return found[-1]


# ---------------------------------------------------------------- guest tree


def build_wheel(out: Path) -> Path:
    """A wheel of this worktree, built as a distribution's build would (no deps)."""
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        stdout=subprocess.DEVNULL,
    )
    wheels = sorted(out.glob("stage_executor-*.whl"))
    if not wheels:
        raise SystemExit("pip wheel made no stage_executor wheel")
    return wheels[-1]


def install_wheel(wheel: Path, root: Path) -> None:
    """Unpack the wheel into Debian's dist-packages and write its console script
    to /usr/bin, as dh-python does for a packaged application."""
    site = root / "usr/lib/python3/dist-packages"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
        entry_points = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        scripts = console_scripts(zf.read(entry_points).decode())
    for name, target in scripts.items():
        module, _, func = target.partition(":")
        script = root / "usr/bin" / name
        script.write_text(
            f"#!/usr/bin/python3\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n"
        )
        script.chmod(0o755)


def console_scripts(text: str) -> dict[str, str]:
    scripts: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "console_scripts" and "=" in line:
            name, _, target = line.partition("=")
            scripts[name.strip()] = target.strip()
    return scripts


def guest_tree(base: Path, work: Path, cache: Path, timings: dict[str, float]) -> Path:
    """The base plus the package, units, dracut module, configs and test units."""
    start = time.monotonic()
    root = work / "root"
    run(["cp", "-a", "--reflink=auto", str(base), str(root)])
    wheel = build_wheel(work / "wheel")
    install_wheel(wheel, root)
    units = root / "usr/lib/systemd/system"
    for unit in sorted((REPO / "systemd").glob("stage-executor-*")):
        shutil.copy2(unit, units / unit.name)
    module = root / "usr/lib/dracut/modules.d/99stage-executor"
    shutil.copytree(REPO / "systemd/dracut/99stage-executor", module)
    for unit in sorted((GUEST_FILES / "units").iterdir()):
        shutil.copy2(unit, units / unit.name)
    for stage in ("fs", "boot", "network"):
        dropins = root / f"etc/systemd/system/stage-executor-{stage}.service.d"
        dropins.mkdir(parents=True, exist_ok=True)
        text = (GUEST_FILES / "dropins/verbose.conf").read_text()
        (dropins / "verbose.conf").write_text(text.replace("@STAGE@", stage))
    libexec = root / "usr/local/libexec"
    libexec.mkdir(parents=True, exist_ok=True)
    shutil.copy2(GUEST_FILES / "boot-test-report", libexec / "boot-test-report")
    (libexec / "boot-test-report").chmod(0o755)
    share = root / "usr/local/share/boot-test"
    shutil.copytree(GUEST_FILES / "share", share)
    oem = root / "oem"
    oem.mkdir(exist_ok=True)
    shutil.copy2(REPO / "configs/sysext-opt.yaml", oem / "sysext-opt.yaml")
    shutil.copy2(GUEST_FILES / "oem/90-boot-test.yaml", oem / "90-boot-test.yaml")
    # py3compile's job in a Debian package: bytecode at install time, since
    # start-up is boot time. Then enable the units with the guest's systemctl.
    in_chroot(
        root,
        "python3 -m compileall -q /usr/lib/python3/dist-packages/executor"
        f" && systemctl enable {' '.join(UNITS_ENABLED)}",
    )
    timings["guest tree"] = time.monotonic() - start
    make_initrd(root, base.parent.name, cache, timings)
    return root


def make_initrd(root: Path, base_name: str, cache: Path, timings: dict[str, float]) -> None:
    """Rebuild the initrd with the dracut module (cached on the module, the unit and the base)."""
    start = time.monotonic()
    kver = kernel_version(root)
    key = digest(
        base_name,
        kver,
        (REPO / "systemd/dracut/99stage-executor/module-setup.sh").read_bytes(),
        (REPO / "systemd/stage-executor-initramfs.service").read_bytes(),
    )
    cached = cache / f"initrd-{key}.img"
    target = root / f"boot/initrd.img-{kver}"
    if cached.exists():
        say(f"initrd: cached {cached}")
        shutil.copy2(cached, target)
        return
    in_chroot(root, f"dracut --force --quiet /boot/initrd.img-{kver} {kver}")
    listing = (
        subprocess.run(
            ["lsinitrd", str(target)], capture_output=True, text=True, check=False
        ).stdout
        if shutil.which("lsinitrd")
        else ""
    )
    if listing and "stage-executor-initramfs.service" not in listing:
        raise SystemExit("the rebuilt initrd does not hold stage-executor-initramfs.service")
    tmp = cached.with_suffix(".tmp")
    shutil.copy2(target, tmp)
    tmp.rename(cached)
    timings["initrd (dracut)"] = time.monotonic() - start


# ---------------------------------------------------------------- disks and boot


def make_disk(tree: Path, image: Path, timings: dict[str, float], label: str) -> None:
    start = time.monotonic()
    image.unlink(missing_ok=True)
    run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(tree), str(image), "2G"])
    timings[f"mkfs {label}"] = time.monotonic() - start


_ACCEL: list[str] = []


def accelerator(kernel: Path) -> str:
    """`kvm` when a KVM guest prints its first kernel line within 20 s, else `tcg`.

    /dev/kvm can be there and still not run a guest (a nested set-up that
    rejects an MSR): probe by booting, not by looking.
    """
    if _ACCEL:
        return _ACCEL[0]
    forced = os.environ.get("STAGE_EXECUTOR_BOOT_ACCEL")
    if forced:
        _ACCEL.append(forced)
        return forced
    result = "tcg"
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        argv = [
            "qemu-system-x86_64",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "256",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-nic",
            "none",
            "-no-reboot",
            "-kernel",
            str(kernel),
            "-append",
            "console=ttyS0 panic=-1",
        ]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
            text = out.stdout
        except subprocess.TimeoutExpired as exc:
            text = (
                (exc.stdout or b"").decode(errors="replace")
                if isinstance(exc.stdout, bytes)
                else (exc.stdout or "")
            )
        if "Linux version" in text:
            result = "kvm"
    say(f"accelerator: {result}")
    _ACCEL.append(result)
    return result


@dataclass
class Boot:
    name: str
    out: Path
    seconds: float = 0.0
    evidence: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return self.evidence.get(name, "")

    def json(self, name: str) -> object:
        return json.loads(self.evidence[name])


def boot(name: str, root: Path, disk: Path, out: Path, extra_args: Sequence[str] = ()) -> Boot:
    """Boot `disk` with the tree's kernel and initrd; the report unit fills a second disk."""
    out.mkdir(parents=True, exist_ok=True)
    kver = kernel_version(root)
    kernel, initrd = root / f"boot/vmlinuz-{kver}", root / f"boot/initrd.img-{kver}"
    evidence = out / "evidence.tar"
    with evidence.open("wb") as f:
        f.truncate(64 << 20)
    console = out / "console.log"
    accel = accelerator(kernel)
    argv = [
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-m",
        "1024",
        "-smp",
        "2",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        f"file:{console}",
        "-nic",
        "none",
        "-no-reboot",
        "-drive",
        f"file={disk},format=raw,if=virtio",
        "-drive",
        f"file={evidence},format=raw,if=virtio",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        " ".join((*KERNEL_ARGS, *extra_args)),
    ]
    if accel == "kvm":
        argv[3:3] = ["-cpu", "host"]
    say(f"boot {name}: console {console}")
    start = time.monotonic()
    result = Boot(name, out)
    try:
        subprocess.run(argv, check=True, timeout=BOOT_TIMEOUT, stdout=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        say(f"boot {name}: no power-off within {BOOT_TIMEOUT} s; see {console}")
    result.seconds = time.monotonic() - start
    result.evidence = read_evidence(evidence)
    (out / "evidence").mkdir(exist_ok=True)
    for rel, text in result.evidence.items():
        path = out / "evidence" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    say(f"boot {name}: {result.seconds:.1f} s, {len(result.evidence)} evidence files")
    return result


def read_evidence(image: Path) -> dict[str, str]:
    """The report unit's tar stream from the second disk (empty if it never ran)."""
    files: dict[str, str] = {}
    try:
        with tarfile.open(image, "r:") as tar:
            for member in tar:
                if member.isfile():
                    f = tar.extractfile(member)
                    if f is not None:
                        files[member.name.removeprefix("./")] = f.read().decode(errors="replace")
    except tarfile.ReadError:
        pass
    return files


# ---------------------------------------------------------------- the whole run


@dataclass
class Run:
    first: Boot
    second: Boot
    uki: Boot
    timings: dict[str, float]


def boot_all(out: Path, cache: Path = DEFAULT_CACHE) -> Run:
    timings: dict[str, float] = {}
    start = time.monotonic()
    base = base_image(cache, timings)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tree = guest_tree(base, work, cache, timings)
    disk = work / "disk.img"
    make_disk(tree, disk, timings, "first")
    first = boot("first", tree, disk, out / "first")
    second = boot("second", tree, disk, out / "second")
    make_disk(tree, disk, timings, "uki")
    uki = boot("uki", tree, disk, out / "uki", UKI_ARGS)
    disk.unlink(missing_ok=True)
    shutil.rmtree(tree, ignore_errors=True)
    for b in (first, second, uki):
        timings[f"boot {b.name}"] = b.seconds
    timings["total"] = time.monotonic() - start
    print_figures(Run(first, second, uki, timings))
    return Run(first, second, uki, timings)


def load_run(out: Path) -> Run:
    """The evidence an earlier `boot_all(out)` left (to rework assertions without booting)."""
    boots = []
    for name in ("first", "second", "uki"):
        b = Boot(name, out / name)
        evidence = out / name / "evidence"
        for path in sorted(evidence.rglob("*")) if evidence.is_dir() else []:
            if path.is_file():
                b.evidence[str(path.relative_to(evidence))] = path.read_text(errors="replace")
        boots.append(b)
    return Run(*boots, timings={})


def print_figures(r: Run) -> None:
    """Benchmark output: where the time went, and what each unit cost at boot."""
    print("\n== boot test timings (seconds) ==")
    for what, seconds in r.timings.items():
        print(f"  {what:<24} {seconds:8.1f}")
    for b in (r.first, r.second, r.uki):
        print(f"\n== {b.name} boot: systemd-analyze ==")
        print(indent(b.text("time.txt")))
        blame = [
            line
            for line in b.text("blame.txt").splitlines()
            if "stage-executor" in line or "boot-test" in line
        ]
        print("  blame (stage-executor units):")
        print(indent("\n".join(blame)))
        print("  stage units, Starting to Finished in the journal (the initrd's too):")
        for unit, seconds in unit_spans(b).items():
            print(f"    {seconds:7.3f}s {unit}")
    print(flush=True)


def unit_spans(b: Boot) -> dict[str, float]:
    """Seconds from systemd's `Starting` to `Finished` message of each stage unit."""
    starts: dict[str, int] = {}
    spans: dict[str, float] = {}
    for line in b.text("journal.json").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        unit, message = str(entry.get("UNIT", "")), str(entry.get("MESSAGE", ""))
        if not unit.startswith("stage-executor-") or "__MONOTONIC_TIMESTAMP" not in entry:
            continue
        usec = int(entry["__MONOTONIC_TIMESTAMP"])
        if message.startswith("Starting "):
            starts[unit] = usec
        elif message.startswith("Finished ") and unit in starts:
            spans[unit] = (usec - starts[unit]) / 1e6
    return spans


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "stage-executor-boot")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        p.error("needs root (debootstrap, chroot, mkfs.ext4 -d of a root-owned tree)")
    missing = missing_tools()
    if missing:
        p.error(f"missing tools: {', '.join(missing)}")
    boot_all(args.out, args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
