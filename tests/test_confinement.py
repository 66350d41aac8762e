"""Confinement: escape attempts against --root.

Beside every root lies a sentinel tree, `outside/`, holding what an escape
would read or change: a secret, a passwd naming a user the root lacks, an
os-release, a unit file, a config directory. Each case below builds a root
that tries to reach it (symlinks pointing out, absolute and relative, `..`
in config paths, loops, linked parents, linked targets, linked unit files,
conditions naming `/../..` paths ...), runs the executor on it, and checks:

- the sentinel tree is byte for byte, mode for mode, unchanged;
- nothing the sentinel holds leaked in (no step saw its files);
- a refusal is a failed step with a message, never a traceback;
- a write that follows a link lands inside the root, as if it were `/`.

Two audits watch the paths actually touched: an in-process one wrapping the
`os` calls (dir_fd-relative names resolved through /proc/self/fd), and,
where strace exists, one over a real subprocess run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from executor.cli import main
from executor.errors import RootError
from executor.root import Root
from tests.conftest import have, snapshot

REPO = Path(__file__).resolve().parent.parent
SECRET = "SENTINEL-SECRET"
SENTINEL_UID = 4242

UNIT = "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy={target}\n"


def make_outside(base: Path) -> Path:
    out = base / "outside"
    files = {
        "secret": SECRET + "\n",
        "motd": "host motd " + SECRET + "\n",
        "passwd": f"sentinel:x:{SENTINEL_UID}:{SENTINEL_UID}::/:/bin/sh\n",
        "group": f"sentinel:x:{SENTINEL_UID}:\n",
        "shadow": "root:" + SECRET + ":19000::::::\n",
        "os-release": "ID=sentinelos\nNAME=Sentinel\n",
        "units/evil.service": UNIT.format(target="outside.target"),
        "units/good.service": UNIT.format(target="outside.target"),
        "dir/keep": "keep\n",
        "oem/evil.yaml": "stages:\n  boot:\n    - name: evil\n"
        "      files: [{path: /pwned, content: x}]\n",
    }
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.chmod(out / "shadow", 0o600)
    os.chmod(out / "dir", 0o750)
    return out


@dataclass
class Case:
    """One escape attempt: links/files in the root, a config, and the outcome."""

    name: str
    links: dict[str, str]  # in-root path -> link target; "{outside}" is the sentinel's path
    config: str  # steps of stage `boot`, YAML, indented for `  boot:`
    outcome: str  # "failed", "invalid", "inside", "skipped", "unchanged"
    expect: dict[str, str] = field(default_factory=dict)  # in-root path -> content
    reason: str = ""  # a fragment of the failed step's reason
    files: dict[str, str] = field(default_factory=dict)  # in-root files to make first
    default_sources: bool = False  # run-stage with the root's own config dirs
    check: Callable[[Path, Path], None] | None = None


def files_step(path: str, content: str = "pwned", extra: str = "") -> str:
    return (
        f"    - name: attempt\n      files:\n        - path: {json.dumps(path)}\n"
        f"          content: {content}\n{extra}"
    )


def dirs_step(path: str, extra: str = "") -> str:
    return f"    - name: attempt\n      directories:\n        - path: {json.dumps(path)}\n{extra}"


def units_step(verb: str, unit: str) -> str:
    return f"    - name: attempt\n      systemctl:\n        {verb}: [{unit}]\n"


def cond_step(cond: str) -> str:
    return f"    - name: attempt\n      {cond}\n      files: [{{path: /ran, content: x}}]\n"


def owned_by_sentinel_nowhere(root: Path, outside: Path) -> None:
    for dirpath, dirs, names in os.walk(root):
        for name in dirs + names:
            st = os.lstat(os.path.join(dirpath, name))
            assert st.st_uid != SENTINEL_UID, f"{dirpath}/{name} got the outside passwd's uid"


def hard_link_copied(root: Path, outside: Path) -> None:
    inside = root / "etc/shadow"
    assert inside.stat().st_ino != (outside / "shadow").stat().st_ino
    assert inside.stat().st_mode & 0o7777 == 0o644
    assert inside.read_text() == (outside / "shadow").read_text()


def no_outside_target(root: Path, outside: Path) -> None:
    found = [p for p in root.rglob("*") if "outside.target" in p.name]
    assert not found, f"[Install] of the outside unit was read: {found}"


CASES = [
    # -- symlinks pointing out ------------------------------------------------------
    Case(
        "abs-link-to-host-slash",
        {"/etc": "/"},
        files_step("/etc/probe-se9"),
        "inside",
        {"/probe-se9": "pwned"},
        check=lambda root, out: _not_on_host("/probe-se9"),
    ),
    Case(
        "rel-link-climbing-out",
        {"/a": "../../.."},
        files_step("/a/outside/secret"),
        "inside",
        {"/outside/secret": "pwned"},
    ),
    Case(
        "abs-link-to-sentinel-path",
        {"/s": "{outside}"},
        files_step("/s/secret"),
        "inside",
        {"{outside}/secret": "pwned"},
    ),
    Case(
        "rel-link-to-sentinel",
        {"/s": "../outside"},
        files_step("/s/secret"),
        "inside",
        {"/outside/secret": "pwned"},
    ),
    # -- `..` in config paths -----------------------------------------------------------
    Case(
        "dotdot-file",
        {},
        files_step("/../../outside/secret"),
        "inside",
        {"/outside/secret": "pwned"},
    ),
    Case(
        "dotdot-host-abs-file",
        {},
        files_step("/../../../../{outside}/secret"),
        "inside",
        {"{outside}/secret": "pwned"},
    ),
    Case(
        "dotdot-directory",
        {},
        dirs_step("/../../outside/newdir"),
        "inside",
        {"/outside/newdir": ""},
    ),
    # -- loops --------------------------------------------------------------------------
    Case(
        "loop-pair",
        {"/loop1": "/loop2", "/loop2": "loop1"},
        files_step("/loop1/x"),
        "failed",
        reason="Too many levels of symbolic links",
    ),
    Case(
        "loop-self",
        {"/self": "self"},
        files_step("/self/x"),
        "failed",
        reason="Too many levels of symbolic links",
    ),
    Case(
        "loop-target",
        {"/etc/motd": "/etc/motd"},
        files_step("/etc/motd"),
        "failed",
        reason="Too many levels of symbolic links",
        files={"/etc/keep": "k"},
    ),
    # -- a symlinked parent of a target -----------------------------------------------
    Case(
        "parent-abs-sentinel",
        {"/etc/conf.d": "{outside}"},
        files_step("/etc/conf.d/secret"),
        "inside",
        {"{outside}/secret": "pwned"},
    ),
    Case(
        "parent-rel-climb",
        {"/etc/conf.d": "../../../../../../../../outside"},
        files_step("/etc/conf.d/secret"),
        "inside",
        {"/outside/secret": "pwned"},
    ),
    Case(
        "parent-chain",
        {"/etc/a": "b", "/etc/b": "../c", "/c": "../../outside"},
        files_step("/etc/a/secret"),
        "inside",
        {"/outside/secret": "pwned"},
    ),
    # -- file targets that are symlinks out ---------------------------------------------
    Case(
        "target-abs-link-out",
        {"/etc/motd": "{outside}/motd"},
        files_step("/etc/motd"),
        "inside",
        {"{outside}/motd": "pwned"},
        files={"{outside}/keep": ""},
    ),
    Case(
        "target-rel-link-out",
        {"/etc/issue": "../../../outside/motd"},
        files_step("/etc/issue"),
        "inside",
        {"/outside/motd": "pwned"},
        files={"/outside/keep": ""},
    ),
    # the link's target directory is missing in the root: ENOENT, as in yip
    Case(
        "target-abs-link-out-no-dir",
        {"/etc/motd": "{outside}/motd"},
        files_step("/etc/motd"),
        "failed",
        reason="No such file or directory",
    ),
    Case(
        "target-rel-link-out-no-dir",
        {"/etc/issue": "../../../outside/motd"},
        files_step("/etc/issue"),
        "failed",
        reason="No such file or directory",
    ),
    Case(
        "target-link-to-host-etc",
        {"/etc/hostname": "/etc/hostname-host"},
        files_step("/etc/hostname"),
        "inside",
        {"/etc/hostname-host": "pwned"},
        files={"/etc/keep": "k"},
    ),
    # -- directories specs through links ---------------------------------------------------
    Case(
        "dirs-through-rel-link",
        {"/var": "../../outside"},
        dirs_step("/var/lib/x"),
        "inside",
        {"/outside/lib/x": ""},
    ),
    Case("dirs-through-slash-link", {"/srv": "/"}, dirs_step("/srv/x"), "inside", {"/x": ""}),
    Case(
        "dirs-target-link-out",
        {"/etc/evil.d": "{outside}/dir"},
        dirs_step("/etc/evil.d", "          permissions: 0777\n"),
        "inside",
        {"{outside}/dir": ""},
    ),
    # -- the root's accounts linked to the host's -----------------------------------
    Case(
        "passwd-abs-link-out",
        {"/etc/passwd": "{outside}/passwd", "/etc/group": "{outside}/group"},
        files_step("/etc/owned", extra="          owner_string: sentinel\n"),
        "failed",
        reason="not in the root's /etc/passwd",
        check=owned_by_sentinel_nowhere,
    ),
    Case(
        "passwd-self-link",
        {"/etc/passwd": "/etc/passwd"},
        files_step("/etc/owned", extra="          owner_string: sentinel\n"),
        "failed",
        reason="not in the root's /etc/passwd",
        check=owned_by_sentinel_nowhere,
    ),
    Case(
        "passwd-rel-link-out",
        {"/etc/passwd": "../../outside/passwd"},
        files_step("/etc/owned", extra="          owner_string: sentinel:sentinel\n"),
        "failed",
        reason="not in the root's /etc/passwd",
        check=owned_by_sentinel_nowhere,
    ),
    Case(
        "shadow-hard-linked-out",
        {"/etc/shadow": "hardlink:{outside}/shadow"},
        files_step(
            "/etc/shadow",
            content=json.dumps("root:" + SECRET + ":19000::::::\n"),
            extra="          permissions: 0644\n",
        ),
        "inside",
        check=hard_link_copied,
    ),
    # -- unit files and unit directories linked out ----------------------------------
    Case(
        "unit-file-rel-link-out",
        {"/usr/lib/systemd/system/evil.service": "../../../../../outside/units/evil.service"},
        units_step("enable", "evil"),
        "failed",
        reason="does not exist",
        check=no_outside_target,
    ),
    Case(
        "unit-file-abs-link-out",
        {"/usr/lib/systemd/system/evil.service": "{outside}/units/evil.service"},
        units_step("enable", "evil"),
        "failed",
        reason="does not exist",
        check=no_outside_target,
    ),
    Case(
        "unit-dir-linked-out",
        {"/usr/lib/systemd/system": "{outside}/units"},
        units_step("enable", "good"),
        "failed",
        reason="does not exist",
        check=no_outside_target,
    ),
    Case(
        "config-dir-linked-out",
        {"/etc/systemd/system": "{outside}/units"},
        units_step("enable", "mine"),
        "inside",
        {"{outside}/units/multi-user.target.wants/mine.service": "link"},
        files={"/usr/lib/systemd/system/mine.service": UNIT.format(target="multi-user.target")},
    ),
    # as systemctl: a link that is not the mask is not replaced
    Case(
        "mask-over-link-out",
        {"/etc/systemd/system/evil.service": "{outside}/units/evil.service"},
        units_step("mask", "evil"),
        "failed",
        reason="already exists",
    ),
    Case(
        "disable-link-out",
        {
            "/etc/systemd/system/multi-user.target.wants/evil.service": (
                "{outside}/units/evil.service"
            )
        },
        units_step("disable", "evil"),
        "inside",
        check=lambda root, out: _gone(
            root / "etc/systemd/system/multi-user.target.wants/evil.service"
        ),
    ),
    # -- conditions naming paths out -------------------------------------------------
    Case("cond-dotdot", {"/up": ".."}, cond_step("if: '[ -e /up/outside/secret ]'"), "skipped"),
    Case("cond-dotdot-abs", {}, cond_step("if: '[ -f /../../../..{outside}/secret ]'"), "skipped"),
    Case(
        "cond-if-files",
        {"/up": ".."},
        cond_step("if_files: {any: [/../up/outside/secret]}"),
        "skipped",
    ),
    Case(
        "cond-os-release-out",
        {"/etc/os-release": "{outside}/os-release"},
        cond_step("only_os: sentinelos"),
        "skipped",
    ),
    Case(
        "cond-os-release-rel",
        {"/etc/os-release": "../../outside/os-release"},
        cond_step("only_os: sentinelos"),
        "skipped",
    ),
    # -- the root's own config dirs linked out ----------------------------------------
    Case(
        "oem-rel-link-out",
        {"/oem": "../outside/oem"},
        "",
        "unchanged",
        default_sources=True,
        check=lambda root, out: _gone(root / "pwned"),
    ),
    Case(
        "oem-abs-link-out",
        {"/oem": "{outside}/oem"},
        "",
        "unchanged",
        default_sources=True,
        check=lambda root, out: _gone(root / "pwned"),
    ),
    Case(
        "run-linked-out",
        {"/run": "../outside"},
        files_step("/etc/ok", "fine"),
        "inside",
        {"/etc/ok": "fine", "/outside/stage-executor.lock": ""},
    ),
    # -- paths the kernel would refuse -------------------------------------------------
    Case("nul-byte", {}, files_step("/etc/a\0b"), "failed", reason="Invalid argument"),
    Case(
        "through-a-file",
        {},
        files_step("/etc/keep/x"),
        "failed",
        reason="Not a directory",
        files={"/etc/keep": "k"},
    ),
    Case(
        "name-too-long", {}, files_step("/etc/" + "n" * 300), "failed", reason="File name too long"
    ),
    # refused before anything runs since validate checks write paths
    Case(
        "relative-path", {}, files_step("etc/relative"), "invalid", reason="is not an absolute path"
    ),
]


def _not_on_host(path: str) -> None:
    assert not os.path.lexists(path), f"{path} was written on the host"


def _gone(path: Path) -> None:
    assert not os.path.lexists(path), path


def build(base: Path, case: Case) -> tuple[Path, Path]:
    outside = make_outside(base)
    root = base / "root"
    root.mkdir()
    for rel, text in case.files.items():
        path = root / rel.replace("{outside}", str(outside)).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, target in case.links.items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        target = target.replace("{outside}", str(outside))
        if target.startswith("hardlink:"):
            os.link(target.removeprefix("hardlink:"), path)
        else:
            os.symlink(target, path)
    return root, outside


def run_case(
    base: Path, case: Case, capsys: pytest.CaptureFixture[str], audit: Audit | None = None
) -> tuple[Path, Path]:
    root, outside = build(base, case)
    before = snapshot(outside)
    args = ["--root", str(root), "--json", "--no-cmdline"]
    if case.default_sources:
        argv = ["run-stage", "boot", *args]
    else:
        config = base / "config.yaml"
        text = "stages:\n  boot:\n" + case.config.replace("{outside}", str(outside))
        config.write_text(text)
        argv = ["apply", "-s", "boot", str(config), *args]
    if audit is not None:
        audit.on = True
    try:
        rc = main(argv)
    finally:
        if audit is not None:
            audit.on = False
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    report = json.loads(out)
    assert snapshot(outside) == before, "the sentinel tree outside the root changed"
    assert SECRET not in out, "a sentinel secret leaked into the report"
    steps = [s for s in report["steps"] if s["name"] == "attempt"]
    if case.outcome == "failed":
        assert rc == 1
        assert steps and steps[0]["status"] == "failed", steps
        assert case.reason in steps[0]["reason"], steps[0]["reason"]
    elif case.outcome == "skipped":
        assert rc == 0, report
        assert steps[0]["status"] == "skipped", steps
        assert not (root / "ran").exists()
    elif case.outcome == "invalid":  # a config error: the document does not run
        assert rc == 1 and not steps, report
        assert any(case.reason in e["message"] for e in report["errors"]), report["errors"]
    elif case.outcome == "inside":
        assert rc == 0, report
        assert steps[0]["status"] == "applied", steps
    else:
        assert rc == 0 and not steps, report
    for rel, text in case.expect.items():
        path = root / rel.replace("{outside}", str(outside)).lstrip("/")
        if text == "link":
            assert path.is_symlink(), path
        elif text:
            assert path.read_text() == text, path
        else:
            assert path.exists(), path
    if case.check is not None:
        case.check(root, outside)
    return root, outside


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_escape_attempt_is_confined(
    tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    run_case(tmp_path, case, capsys)


def test_every_case_is_an_escape_attempt() -> None:
    # 40-odd attempts, named uniquely, covering each kind the issue lists
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) >= 40
    for kind in (
        "abs-link",
        "rel-link",
        "dotdot",
        "loop",
        "parent",
        "target",
        "dirs",
        "passwd",
        "unit",
        "cond",
        "oem",
    ):
        assert any(kind in n for n in names), kind


# -- the audit: every path the run touched -------------------------------------------


AUDITED = (
    "open",
    "stat",
    "lstat",
    "listdir",
    "scandir",
    "mkdir",
    "rename",
    "replace",
    "symlink",
    "unlink",
    "remove",
    "rmdir",
    "readlink",
    "chmod",
    "chown",
    "link",
    "fchmod",
    "fchown",
    "truncate",
    "utime",
)


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"<fd {fd}>"


def _where(arg: Any, dir_fd: int | None) -> str | None:
    if isinstance(arg, int):
        return _fd_path(arg)
    if isinstance(arg, (str, bytes, os.PathLike)):
        path = os.fsdecode(arg)
        if dir_fd is not None and not path.startswith("/"):
            path = os.path.join(_fd_path(dir_fd), path)
        elif not path.startswith("/"):
            path = os.path.join(os.getcwd(), path)
        # the kernel resolves every component but the last: so do we
        parent, name = os.path.split(os.path.normpath(path))
        return os.path.join(os.path.realpath(parent), name)
    return None


@dataclass
class Audit:
    seen: list[str] = field(default_factory=list)
    on: bool = False


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Audit]:
    """Record the host path of every file system call made through `os`
    while `on` is set (only the executor's run, not the test's own set-up)."""
    state = Audit()

    def wrap(name: str) -> None:
        real = getattr(os, name)

        def recorder(*args: Any, **kwargs: Any) -> Any:
            if not state.on:
                return real(*args, **kwargs)
            if name in ("rename", "replace", "link"):
                pairs = [(args[0], kwargs.get("src_dir_fd")), (args[1], kwargs.get("dst_dir_fd"))]
            elif name == "symlink":  # args[0] is the link's text, not a path we touch
                pairs = [(args[1], kwargs.get("dir_fd"))]
            else:
                pairs = [(args[0], kwargs.get("dir_fd"))] if args else []
            state.on = False  # _where itself calls os.lstat (realpath)
            try:
                for arg, dir_fd in pairs:
                    where = _where(arg, dir_fd)
                    if where:
                        state.seen.append(where)
            finally:
                state.on = True
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, recorder)

    for name in AUDITED:
        wrap(name)
    yield state


def test_audit_no_path_outside_the_root_is_touched(
    tmp_path: Path, audit: Audit, capsys: pytest.CaptureFixture[str]
) -> None:
    allowed = []
    for i, case in enumerate(CASES):
        base = tmp_path / f"c{i}"
        base.mkdir()
        root, _ = run_case(base, case, capsys, audit)
        allowed += [os.path.realpath(root), os.path.realpath(base / "config.yaml")]
    # the interpreter's own files (gettext catalogues for argparse, lazy imports)
    allowed += sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)})
    # the directories above a root, looked at to find the root itself (realpath)
    ancestors = {str(p) for ok in allowed for p in Path(ok).parents}
    stray = sorted(
        {
            path
            for path in audit.seen
            if not any(path == ok or path.startswith(ok + "/") for ok in allowed)
            and not path.startswith("/proc/self/")
            and path not in ancestors
        }
    )
    assert len(audit.seen) > 1000  # the wrapper saw the runs
    assert stray == [], stray[:20]


# -- the audit by strace, over a real process -----------------------------------------

STRACE_CALL = re.compile(r"^(?:\[pid\s+\d+\] |\d+\s+)?(\w+)\((.*)\) = (-?\d+)(<[^>]*>)?")
FD_ARG = re.compile(r"^(?:AT_FDCWD|\d+)<([^>]*)>$")
STR_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


def strace_paths(log: str) -> list[str]:
    """Host paths of the file system calls in an `strace -f -y` log.

    A successful open is taken at the path the kernel reports for the new fd;
    any other call at its path arguments, each joined to the directory fd
    decoration before it. Only path arguments count: readlink's buffer and
    symlink's target text are data.
    """
    paths = []
    for line in log.splitlines():
        m = STRACE_CALL.match(line)
        if not m:
            continue
        call, args, _, result = m.groups()
        if result and call.startswith("open"):
            paths.append(result[1:-1])
            continue
        parts = [a.strip() for a in args.split(", ")]
        found = []
        base = ""
        for part in parts:
            fd = FD_ARG.match(part)
            if fd:
                base = fd.group(1)
                continue
            s = STR_ARG.fullmatch(part)
            if s:
                text = s.group(1)
                found.append(text if text.startswith("/") else os.path.join(base or "/", text))
                base = ""
        if call.startswith(("rename", "link")):
            keep = found[:2]
        elif call.startswith("symlink"):
            keep = found[1:2]
        else:
            keep = found[:1]
        paths += [os.path.normpath(p) for p in keep]
    return paths


@pytest.mark.subprocess
@pytest.mark.skipif(not have("strace"), reason="strace is not installed")
def test_strace_audit_of_a_real_run_through_every_trap(tmp_path: Path) -> None:
    # One root holding every trap at once, one config attempting them all.
    outside = make_outside(tmp_path)
    root = tmp_path / "root"
    traps = {
        "/etc": "/",
        "/a": "../../..",
        "/s": str(outside),
        "/loop1": "/loop2",
        "/loop2": "loop1",
        "/var": "../../outside",
        "/usr/lib/systemd/system": str(outside / "units"),
        "/oem": "../outside/oem",
        "/up": "..",
    }
    root.mkdir()
    for rel, target in traps.items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    steps = "".join(
        [
            files_step("/etc/motd"),
            files_step("/a/outside/secret"),
            files_step("/s/secret"),
            files_step("/../../outside/secret"),
            files_step("/loop1/x"),
            dirs_step("/var/lib/x"),
            units_step("enable", "good"),
            cond_step("if: '[ -e /up/outside/secret ]'"),
            files_step("/etc/passwd-probe", extra="          owner_string: sentinel\n"),
        ]
    )
    config = tmp_path / "config.yaml"
    config.write_text("stages:\n  boot:\n" + steps)
    before = snapshot(outside)
    log = tmp_path / "strace.log"
    done = subprocess.run(
        [
            "strace",
            "-f",
            "-y",
            "-qq",
            "-s",
            "4096",
            "-o",
            str(log),
            "-e",
            "trace=%file,fchmod,fchown,getdents64",
            sys.executable,
            "-m",
            "executor",
            "run-stage",
            "boot",
            str(config),
            "--root",
            str(root),
            "--json",
            "--no-cmdline",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1  # the loop and the unknown user fail their steps
    assert snapshot(outside) == before
    paths = strace_paths(log.read_text())
    assert any(p.startswith(str(root) + "/") for p in paths)  # the parser saw the run
    sentinel = str(outside)
    stray = [p for p in paths if p == sentinel or p.startswith(sentinel + "/")]
    assert stray == [], stray[:20]
    # nothing else of the test's tree either, besides the config itself
    others = [
        p
        for p in paths
        if p.startswith(str(tmp_path) + "/")
        and not p.startswith(str(root) + "/")
        and p != str(root)
        and p != str(config)
    ]
    assert others == [], others[:20]


# -- concurrent swaps (TOCTOU) ---------------------------------------------------------


class SwappingRoot(Root):
    """Right after a resolution, swaps a directory of the root for a symlink to
    outside, as an attacker racing the executor would."""

    def __init__(self, path: Path, victim: Path, to: Path) -> None:
        super().__init__(os.fspath(path))
        self.victim, self.to, self.armed = victim, to, False

    def resolve(self, path: str, *, follow: bool = True) -> Any:
        r = super().resolve(path, follow=follow)
        if self.armed:
            self.armed = False
            shutil.move(self.victim, self.victim.with_name("moved-away"))
            os.symlink(self.to, self.victim)
        return r


SWAP_OPS: dict[str, Callable[[Root], object]] = {
    "write_file": lambda r: r.write_file("/etc/new", b"pwned", mode=0o644, uid=0, gid=0),
    "overwrite": lambda r: r.write_file("/etc/keep", b"pwned", mode=0o644, uid=0, gid=0),
    "make_dir": lambda r: r.make_dir("/etc/newdir", mode=0o755, uid=0, gid=0),
    "set_attrs": lambda r: r.set_attrs("/etc/keep", mode=0o666, uid=SENTINEL_UID),
    "symlink": lambda r: r.symlink("/etc/link", "/x"),
    "remove": lambda r: r.remove("/etc/keep"),
    "read_bytes": lambda r: r.read_bytes("/etc/keep"),
    "listdir": lambda r: r.listdir("/etc"),
    "open_lock_file": lambda r: os.close(r.open_lock_file("/etc/lock")),
}


@pytest.mark.parametrize("op", list(SWAP_OPS))
def test_a_parent_swapped_for_a_link_after_resolution_is_refused(tmp_path: Path, op: str) -> None:
    outside = make_outside(tmp_path)
    (outside / "keep").write_text("outside keep\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/keep").write_text("inside keep\n")
    r = SwappingRoot(root, root / "etc", outside)
    before = snapshot(outside)
    r.armed = True
    with pytest.raises(RootError, match="changed while in use"):
        SWAP_OPS[op](r)
    assert snapshot(outside) == before


FINAL_OPS: dict[str, tuple[Callable[[Root], object], str]] = {
    # the rename replaces the link itself: the target file outside is untouched
    "write_file": (lambda r: r.write_file("/etc/keep", b"new", mode=0o600, uid=0, gid=0), ""),
    "set_attrs": (lambda r: r.set_attrs("/etc/keep", mode=0o666), "special file"),
    "read_bytes": (lambda r: r.read_bytes("/etc/keep"), "Too many levels"),
    "remove": (lambda r: r.remove("/etc/keep"), ""),
}


@pytest.mark.parametrize("op", list(FINAL_OPS))
def test_a_target_swapped_for_a_link_after_resolution_is_not_followed(
    tmp_path: Path, op: str
) -> None:
    outside = make_outside(tmp_path)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/keep").write_text("inside keep\n")
    r = SwappingRoot(root, root / "etc/keep", outside / "secret")
    before = snapshot(outside)
    r.armed = True
    action, refusal = FINAL_OPS[op]
    if refusal:
        with pytest.raises(RootError, match=refusal):
            action(r)
    else:
        action(r)
    assert snapshot(outside) == before


def test_the_strace_parser_finds_paths_where_the_kernel_would() -> None:
    log = "\n".join(
        [
            '12 openat(AT_FDCWD</w>, "/r", O_RDONLY|O_PATH|O_DIRECTORY) = 3</r>',
            '12 openat(3</r>, "etc", O_RDONLY|O_PATH|O_NOFOLLOW) = 4</r/etc>',
            '12 newfstatat(4</r/etc>, "motd", 0x7ff, AT_SYMLINK_NOFOLLOW) = -1 ENOENT (No such)',
            '12 readlink("/r/s", "/outside", 4096) = 8',
            '12 symlinkat("/outside/x", 4</r/etc>, ".l.0123abcd.se-tmp") = 0',
            '12 renameat2(4</r/etc>, ".t", 4</r/etc>, "motd", 0) = 0',
            '[pid 13] unlinkat(4</r/etc>, "old", 0) = 0',
        ]
    )
    assert strace_paths(log) == [
        "/r",
        "/r/etc",
        "/r/etc/motd",
        "/r/s",
        "/r/etc/.l.0123abcd.se-tmp",
        "/r/etc/.t",
        "/r/etc/motd",
        "/r/etc/old",
    ]


def test_the_in_process_audit_sees_an_access_outside(tmp_path: Path, audit: Audit) -> None:
    outside = make_outside(tmp_path)
    dfd = os.open(outside, os.O_PATH)
    audit.on = True
    try:
        fd = os.open("secret", os.O_RDONLY, dir_fd=dfd)
    finally:
        audit.on = False
    os.close(fd)
    os.close(dfd)
    assert str(outside / "secret") in audit.seen
