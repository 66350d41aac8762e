"""Differential against the real yip: same config, same root copy, same trees.

Each case runs `yip -s STAGE` (chrooted, in namespaces: see yip_oracle) on one
copy of a small hand-made root and `stage-executor apply -s STAGE --root` on
another, then compares every path of the two trees (kind, mode, owner,
content, link target). A difference fails the test unless one of the
ALLOWED rules below explains it; each rule is a difference the README lists
under "Differences from yip (on purpose)" and says which.

Cases: the seed in every boot mode (its conditions look at
/run/cos/{uki_boot_mode,recovery_mode,autoreset_mode}), with and without
systemctl in the root; every Kairos config in ../shared/kairos-cloudconfigs,
all of its stages in boot order, in an active boot (and a UKI boot for those
that look at /run/cos/uki_boot_mode); and the cases
of tests/fixtures/yip/ (one config each, its purpose in its first comment).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests import yip_oracle as oracle
from tests.conftest import KAIROS_CONFIGS, REPO
from tests.yip_oracle import Case, Diff, Entry

SKIP = oracle.why_not_runnable()
pytestmark = [pytest.mark.subprocess, pytest.mark.skipif(bool(SKIP), reason=SKIP)]

OWN_CASES = REPO / "tests" / "fixtures" / "yip"
BOOT_ORDER = tuple(
    f"{stage}{sub}"
    for stage in ("rootfs", "initramfs", "fs", "boot", "network", "reconcile")
    for sub in (".before", "", ".after")
)
BOOT_MODES = {  # the /run/cos markers of each Kairos boot
    "active": ("active_mode",),
    "passive": ("passive_mode",),
    "recovery": ("recovery_mode",),
    "autoreset": ("recovery_mode", "autoreset_mode"),
    "uki": ("uki_boot_mode", "active_mode"),
    "uki-recovery": ("uki_boot_mode", "recovery_mode"),
    "uki-autoreset": ("uki_boot_mode", "recovery_mode", "autoreset_mode"),
    "none": (),
}


# --- the allow-list -----------------------------------------------------------
#
# Each rule mirrors one entry of README.md "Differences from yip (on purpose)";
# it gets a difference and says whether that entry explains it. Anything else
# is a failure.


def _same_but(diff: Diff, *fields: int) -> bool:
    """Both sides exist, same kind, and differ only in the given fields
    (1 mode, 2 uid, 3 gid, 4 content or target)."""
    if diff.yip is None or diff.ours is None or diff.yip[0] != diff.ours[0]:
        return False
    return all(
        a == b for i, (a, b) in enumerate(zip(diff.yip, diff.ours, strict=True)) if i not in fields
    )


def _mode(entry: Entry | None) -> int:
    assert entry is not None and isinstance(entry[1], int)
    return entry[1]


def parent_directory_modes(diff: Diff) -> bool:
    # README: "Missing parent directories get the file's mode plus a search bit
    # for every read bit (0644 -> 0755); yip adds only the owner's (0744)."
    if diff.base is not None or not _same_but(diff, 1) or diff.yip[0] != "dir":  # type: ignore[index]
        return False
    theirs = _mode(diff.yip)
    return _mode(diff.ours) == theirs | ((theirs & 0o444) >> 2)


def omitted_permissions(diff: Diff) -> bool:
    # README: "Omitted `permissions`: a path that exists keeps its mode (and
    # omitted `owner`/`group` its owner); a new file gets `0644`, a new
    # directory `0755`. yip applies mode `0000`."
    if not _same_but(diff, 1) or _mode(diff.yip) != 0:
        return False
    if diff.base is not None and diff.base[0] == diff.ours[0]:  # type: ignore[index]
        return _mode(diff.ours) == _mode(diff.base)
    return _mode(diff.ours) == (0o755 if diff.ours[0] == "dir" else 0o644)  # type: ignore[index]


def exact_directory_modes(diff: Diff) -> bool:
    # README: "A new directory gets exactly its `permissions`; yip's `mkdir`
    # leaves them filtered by its umask (`0775` -> `0755` under the usual `022`)."
    if diff.base is not None or not _same_but(diff, 1) or diff.yip[0] != "dir":  # type: ignore[index]
        return False
    return _mode(diff.yip) == _mode(diff.ours) & ~0o022


def unit_link_targets(diff: Diff) -> bool:
    # README: "Unit links name the unit where it was found
    # (`/usr/lib/systemd/system/...` on a merged-/usr root); yip runs Debian's
    # `systemctl`, which writes `/lib/systemd/system/...` there"
    if not _same_but(diff, 4) or diff.yip[0] != "link":  # type: ignore[index]
        return False
    theirs, ours = str(diff.yip[4]), str(diff.ours[4])  # type: ignore[index]
    return theirs.startswith("/lib/") and ours == "/usr" + theirs


def entity_lock_directory(diff: Diff) -> bool:
    # README: "yip's account-file library leaves a `/run/lock` directory behind;
    # this executor locks its run with `/run/stage-executor.lock` and makes none."
    return diff.path == "/run/lock" and diff.ours is None and diff.base is None


def datasource_without_answer(diff: Diff) -> bool:
    # README: "nothing is written (yip has created /run/config by then)": with
    # no datasource answering (none does in these runs), yip's datasource
    # module has made /run/config; ours writes nothing.
    return diff.path == "/run/config" and diff.ours is None and diff.base is None


def owner_string(diff: Diff, facts: Facts) -> bool:
    # README: "`owner_string` [...] is honoured; yip reads only the key
    # `ownerstring` and writes such a file as `owner:group` (`0:0` by default).
    # An owner the root does not know fails that entry, which is not written"
    entry = facts.file_entries().get(diff.path)
    if entry is None or "owner_string" not in entry or diff.yip is None:
        return False
    if diff.ours is None:
        return diff.base is None
    return _same_but(diff, 2, 3)


def special_mode_bits(diff: Diff) -> bool:
    # README: "setuid, setgid and sticky bits are applied as written (`04755`
    # stays `04755`, `01777` stays `01777`); yip's conversion to a Go file mode
    # drops them."
    if not _same_but(diff, 1):
        return False
    ours, theirs = _mode(diff.ours), _mode(diff.yip)
    if diff.base is None and diff.yip[0] == "dir":  # type: ignore[index]
        theirs |= ours & 0o022  # and a new directory's umask (exact directory modes)
    return bool(ours & 0o7000) and theirs == ours & 0o777


def environment_lines(diff: Diff, facts: Facts) -> bool:
    # README: "`environment`: the file keeps its other lines byte for byte (yip
    # rewrites it sorted, dropping comments [...])": same variables, same values.
    if diff.path not in facts.environment_files() or not _same_but(diff, 4):
        return False
    return _variables(diff.yip) == _variables(diff.ours)


def _variables(entry: Entry | None) -> dict[str, str]:
    assert entry is not None and isinstance(entry[4], bytes)
    out = {}
    for line in entry[4].decode().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


def gshadow_maintained(diff: Diff) -> bool:
    # README (The other modules): "A group added to `/etc/group` gets its
    # `gshadow` line too; yip leaves `gshadow` alone."
    if diff.path != "/etc/gshadow" or diff.base is None or not _same_but(diff, 4):
        return False
    base, theirs, ours = (bytes(e[4]) for e in (diff.base, diff.yip, diff.ours))  # type: ignore[index, call-overload]
    return theirs == base and ours.startswith(base)


def no_password_locked(diff: Diff) -> bool:
    # README: "A new user without `passwd` gets `*` (no password; SSH keys work)
    # where yip leaves the field empty (no password needed at all)."
    if diff.path != "/etc/shadow" or not _same_but(diff, 4):
        return False
    theirs = bytes(diff.yip[4]).decode().splitlines()  # type: ignore[index, call-overload]
    ours = bytes(diff.ours[4]).decode().splitlines()  # type: ignore[index, call-overload]
    if len(theirs) != len(ours):
        return False
    for a, b in zip(theirs, ours, strict=True):
        fa, fb = a.split(":"), b.split(":")
        if a != b and not (fa[1] == "" and fb[1] == "*" and fa[:1] + fa[2:] == fb[:1] + fb[2:]):
            return False
    return True


def timesyncd_layout(diff: Diff) -> bool:
    # README (The other modules): "with the same settings as yip, as `KEY=VALUE`
    # lines in key order (yip aligns the `=` signs)."
    if not diff.path.startswith("/etc/systemd/timesyncd.conf.d/") or not _same_but(diff, 4):
        return False
    return _variables(diff.yip) == _variables(diff.ours)


@dataclass
class Facts:
    """What a rule may look at besides the difference: the case's config."""

    config: Path

    def file_entries(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for steps in (read_yaml(self.config).get("stages") or {}).values():  # type: ignore[attr-defined]
            for step in steps or []:
                for entry in step.get("files") or []:
                    out[str(entry.get("path"))] = entry
        return out

    def environment_files(self) -> set[str]:
        return {
            str(step.get("environment_file") or "/etc/environment")
            for steps in (read_yaml(self.config).get("stages") or {}).values()  # type: ignore[attr-defined]
            for step in steps or []
            if step.get("environment")
        }


Rule = Callable[[Diff, Facts], bool]
ALLOWED: dict[str, Rule] = {
    "parent directory modes": lambda d, _: parent_directory_modes(d),
    "omitted permissions": lambda d, _: omitted_permissions(d),
    "exact directory modes": lambda d, _: exact_directory_modes(d),
    "unit link targets": lambda d, _: unit_link_targets(d),
    "entity lock directory": lambda d, _: entity_lock_directory(d),
    "datasource without an answer": lambda d, _: datasource_without_answer(d),
    "owner_string": owner_string,
    "special mode bits": lambda d, _: special_mode_bits(d),
    "environment lines": environment_lines,
    "gshadow maintained": lambda d, _: gshadow_maintained(d),
    "no password is locked": lambda d, _: no_password_locked(d),
    "timesyncd layout": lambda d, _: timesyncd_layout(d),
}


def unexplained(diffs: list[Diff], facts: Facts) -> tuple[list[Diff], dict[str, int]]:
    left, used = [], dict.fromkeys(ALLOWED, 0)
    for diff in diffs:
        rule = next((name for name, ok in ALLOWED.items() if ok(diff, facts)), None)
        if rule is None:
            left.append(diff)
        else:
            used[rule] += 1
    return left, used


# Exit statuses: a stage that fails on one side and not on the other must be
# explained too. yip's failures are the `* ...` items of its final "Error:"
# block; ours are the reasons of our failed steps.
YIP_ONLY_FAILURES = {
    # README: "A directory path with a trailing slash [...] is made once; yip
    # makes it, then fails the step with `mkdir: file exists`."
    "trailing slash": re.compile(r"^mkdir \S+/: file exists$"),
    # README (The other modules): "`sysctl` [...] act on the running kernel only
    # when the root is `/`; elsewhere they are reported as skipped".
    # (The copies' /proc is read-only: the host kernel's settings are not changed.)
    "sysctl only on /": re.compile(
        r"^open /proc/sys/\S+: (read-only file system|"
        r"permission denied|no such file or directory)$"
    ),
}
OUR_ONLY_FAILURES = {
    # README: "A step using a module this executor does not implement fails".
    "unsupported module": re.compile(r"module \w+ is not supported by this executor"),
}


def stage_outputs(run: oracle.Run) -> list[str]:
    """The output of each stage's run (each ends with its `@rc N` line)."""
    parts = re.split(r"^@rc -?\d+$", run.output, flags=re.M)
    return parts[: len(run.returncodes)]


def yip_failures(output: str) -> list[str]:
    lines = output.splitlines()
    start = max((i for i, line in enumerate(lines) if line.startswith("Error: ")), default=-1)
    return [line.strip()[2:] for line in lines[start + 1 :] if line.startswith("\t* ")]


def our_failures(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("✗ failed")]


def unexplained_statuses(
    yip_run: oracle.Run, our_run: oracle.Run, stages: tuple[str, ...]
) -> list[str]:
    left = []
    for stage, rc_yip, rc_ours, out_yip, out_ours in zip(
        stages,
        yip_run.returncodes,
        our_run.returncodes,
        stage_outputs(yip_run),
        stage_outputs(our_run),
        strict=True,
    ):
        if (rc_yip == 0) == (rc_ours == 0):
            continue
        if rc_ours == 0:
            failures, rules = yip_failures(out_yip), YIP_ONLY_FAILURES.values()
            ok = bool(failures) and all(any(r.search(f) for r in rules) for f in failures)
        else:
            failures, rules = our_failures(out_ours), OUR_ONLY_FAILURES.values()
            ok = bool(failures) and all(any(r.search(f) for r in rules) for f in failures)
        if not ok:
            left.append(
                f"{stage}: yip exit {rc_yip}, ours {rc_ours}: "
                f"{failures or (out_yip if rc_ours == 0 else out_ours)[-2000:]}"
            )
    return left


# --- the cases ----------------------------------------------------------------


def read_yaml(config: Path) -> dict[str, object]:
    """A case's config as plain PyYAML reads it (UTF-16 too; bad bytes replaced)."""
    try:
        doc = yaml.safe_load(config.read_bytes())
    except yaml.YAMLError:
        doc = yaml.safe_load(config.read_bytes().decode("utf-8", errors="replace"))
    return doc if isinstance(doc, dict) else {}


def stages_of(config: Path) -> tuple[str, ...]:
    """The config's stages, boot stages in boot order first, then the others."""
    doc = read_yaml(config)
    names = list(doc.get("stages") or {})  # type: ignore[call-overload]
    return tuple(
        sorted(
            names, key=lambda s: (BOOT_ORDER.index(s) if s in BOOT_ORDER else len(BOOT_ORDER), s)
        )
    )


def seed_cases() -> Iterator[object]:
    if oracle.SEED is None or not oracle.SEED.is_file():
        return
    for mode, markers in BOOT_MODES.items():
        for systemctl in (True, False):
            name = f"seed-{mode}-{'systemctl' if systemctl else 'no-systemctl'}"
            yield pytest.param(
                Case(name, oracle.SEED, ("initramfs.after",), markers, systemctl), id=name
            )


def kairos_cases() -> Iterator[object]:
    """An active boot for each; a UKI boot too for the configs that look at it."""
    for config in sorted(KAIROS_CONFIGS.glob("*.yaml")):
        uki = "uki_boot_mode" in config.read_text(encoding="utf-8", errors="replace")
        for mode in ("active", "uki") if uki else ("active",):
            name = f"{config.stem}-{mode}"
            yield pytest.param(Case(name, config, stages_of(config), BOOT_MODES[mode]), id=name)


def own_cases() -> Iterator[object]:
    for config in sorted(OWN_CASES.glob("*.yaml")):
        setup: dict[str, object] = read_yaml(config).get("x-differential") or {}  # type: ignore[assignment]
        yield pytest.param(
            Case(
                config.stem,
                config,
                tuple(setup.get("stages") or stages_of(config)),
                tuple(setup.get("markers", ())),
                bool(setup.get("systemctl", True)),
                dict(setup.get("prepare", {})),
            ),
            id=config.stem,
        )


@pytest.fixture(scope="session")
def base_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return oracle.build_base_root(tmp_path_factory.mktemp("yip-base") / "root")


def differential(
    base: Path, work: Path, case: Case
) -> tuple[list[Diff], dict[str, int], list[str]]:
    theirs = oracle.copy_root(base, work / "yip")
    ours = oracle.copy_root(base, work / "ours")
    oracle.prepare_root(theirs, case)
    oracle.prepare_root(ours, case)
    before = oracle.scan(theirs)
    running = oracle.start_yip(theirs, case), oracle.start_ours(ours, case)  # side by side
    yip_run, our_run = (oracle.finish(proc) for proc in running)
    assert len(yip_run.returncodes) == len(case.stages), yip_run.output[-4000:]
    assert len(our_run.returncodes) == len(case.stages), our_run.output[-4000:]
    diffs = oracle.differences(oracle.scan(theirs), oracle.scan(ours), before)
    left, used = unexplained(diffs, Facts(case.config))
    statuses = unexplained_statuses(yip_run, our_run, case.stages)
    if not left and not statuses:  # keep the copies of a failing case for a look
        shutil.rmtree(work)
    return left, used, statuses


@pytest.mark.parametrize("case", [*seed_cases(), *kairos_cases(), *own_cases()])
def test_same_tree_as_yip(case: Case, base_root: Path, tmp_path: Path) -> None:
    left, used, statuses = differential(base_root, tmp_path, case)
    assert not statuses, (
        f"{case.name}: a stage fails on one side only, for a reason "
        "README.md does not list:\n" + "\n".join(statuses)
    )
    assert not left, (
        f"{case.name}: {len(left)} differences from yip that README.md does not list "
        f"(copies kept in {tmp_path}):\n{oracle.show(left)}"
    )
    print(
        f"{case.name}: same tree as yip; allowed differences: "
        f"{ {k: v for k, v in used.items() if v} }"
    )


def test_a_difference_is_found_and_reported(base_root: Path, tmp_path: Path) -> None:
    """The comparison is not blind: a tree changed on one side shows as a difference."""
    left = oracle.copy_root(base_root, tmp_path / "a")
    right = oracle.copy_root(base_root, tmp_path / "b")
    before = oracle.scan(left)
    (right / "etc/hostname").write_text("other\n")
    os.chmod(right / "etc/hosts", 0o600)
    (right / "etc/new").symlink_to("/lib/x")
    diffs = oracle.differences(oracle.scan(left), oracle.scan(right), before)
    assert [d.path for d in diffs] == ["/etc/hostname", "/etc/hosts", "/etc/new"]
    assert unexplained(diffs, Facts(oracle.SEED))[0] == diffs  # type: ignore[arg-type]


def test_every_case_source_is_there() -> None:
    """The shared inputs were found (CI has them beside the checkout)."""
    assert oracle.SEED is not None and oracle.SEED.is_file()
    assert len(list(KAIROS_CONFIGS.glob("*.yaml"))) > 20
    assert list(OWN_CASES.glob("*.yaml"))


def test_every_allowance_quotes_the_readme() -> None:
    """The allow-lists mirror README.md: each rule's comment quotes its entry of
    "Differences from yip", and the quote is found there."""
    readme = " ".join((REPO / "README.md").read_text().replace("`", "").split())
    source = Path(__file__).read_text()
    quotes = []
    for block in re.findall(r"((?:^ *# .*\n)+)", source, flags=re.M):
        text = " ".join(line.strip().lstrip("#").strip() for line in block.splitlines())
        if text.startswith("README"):
            quoted = re.match(r'"(.*?)"(?=[:.]|\s*$)', text.split(": ", 1)[1].strip())
            assert quoted, f"a README comment without its quote: {text}"
            quotes.append(quoted.group(1))
    assert len(quotes) >= len(ALLOWED) + len(YIP_ONLY_FAILURES) + len(OUR_ONLY_FAILURES)
    for quote in quotes:
        for piece in quote.split("[...]"):
            piece = piece.replace("`", "").strip(' ".')
            assert piece in readme, f"not in README.md: {piece!r}"
