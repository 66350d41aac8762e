"""The systemctl module in a run: live system, initramfs chroot, OpenRC, overrides.

A fake runner stands in for systemctl and rc-service (systemd is not running
here); RunContext's live-system check is forced either way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from executor.actions import NONE, RUN
from executor.context import RunContext
from executor.engine import Report, load_groups, run_stages
from executor.model import OverrideSpec, SystemctlSpec
from executor.modules.systemctl import override_path, plan_systemctl
from executor.root import DryRunRoot, Root
from executor.runner import Completed, Runner
from executor.sources import read_host_source
from tests.conftest import SEED, SYSEXT_UNIT, make_tree
from tests.units_oracle import links

E = "/etc/systemd/system"
U = "/usr/lib/systemd/system"
SEED_LINK = f"{E}/sysinit.target.wants/systemd-sysext.service"


class FakeRunner(Runner):
    """Records argv instead of starting anything; the calls in `fail` exit 1."""

    def __init__(self, fail: set[tuple[str, ...]] | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail or set()

    def run(self, argv: Sequence[str], **kwargs: object) -> Completed:  # type: ignore[override]
        self.calls.append(tuple(argv))
        return Completed(tuple(argv), 1 if tuple(argv) in self.fail else 0, "")


class NoRunner(Runner):
    def run(self, argv: Sequence[str], **kwargs: object) -> Completed:  # type: ignore[override]
        raise AssertionError(f"no process should start: {argv}")


def run_seed(ctx: RunContext) -> Report:
    groups, problems = load_groups([read_host_source(str(SEED))])
    assert not problems
    report = Report("apply", "initramfs.after", ctx.root.path, ctx.dry_run)
    run_stages(ctx, report, ["initramfs.after"], groups)
    return report


def seed_tree(root: Path) -> Path:
    return make_tree(
        root,
        {f"{U}/systemd-sysext.service": SYSEXT_UNIT, "/usr/bin/systemctl": "", "/run/cos": None},
    )


# -- the seed: initramfs chroot vs running system --------------------------------


def test_seed_enable_in_the_initramfs_chroot_links_natively(tmp_path: Path) -> None:
    """Root `/` inside the initramfs chroot is not the running system: PID 1 is the
    initrd's systemd. The link is made natively and no systemctl runs."""
    root = seed_tree(tmp_path)
    ctx = RunContext(root=Root(str(root)), runner=NoRunner(), _live=False)
    report = run_seed(ctx)
    assert [s.status for s in report.steps][-1] == "applied"
    assert links(root) == {SEED_LINK: f"{U}/systemd-sysext.service"}


def test_seed_enable_on_the_running_system_calls_systemctl_once(tmp_path: Path) -> None:
    root = seed_tree(tmp_path)
    runner = FakeRunner()
    ctx = RunContext(root=Root(str(root)), runner=runner, _live=True)
    report = run_seed(ctx)
    assert runner.calls == [("systemctl", "enable", "systemd-sysext")]
    assert links(root) == {}
    actions = report.steps[-1].actions
    assert [(a.kind, a.change, a.command) for a in actions] == [
        ("unit", RUN, "systemctl enable systemd-sysext")
    ]
    assert actions[0].exit == 0


def test_live_system_makes_one_call_per_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As yip (one `systemctl VERB UNIT` per unit): a unit that fails does not
    keep the others of its list from being acted on."""
    monkeypatch.delenv("INVOCATION_ID", raising=False)  # from a shell: start waits
    runner = FakeRunner()
    ctx = RunContext(root=Root(str(tmp_path)), runner=runner, _live=True)
    spec = SystemctlSpec(
        enable=("a", "b.timer"), disable=("c",), mask=("d", "e"), unmask=("f",), start=("g", "h i")
    )
    from executor.apply import apply_action

    for action in plan_systemctl(ctx, spec):
        apply_action(ctx, action)
    assert runner.calls == [
        ("systemctl", "enable", "a"),
        ("systemctl", "enable", "b.timer"),
        ("systemctl", "disable", "c"),
        ("systemctl", "mask", "d"),
        ("systemctl", "mask", "e"),
        ("systemctl", "unmask", "f"),
        ("systemctl", "start", "g"),
        ("systemctl", "start", "h i"),
    ]


def test_live_system_a_failing_unit_fails_the_step_and_the_others_run(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "stages:\n  boot:\n    - name: units\n      systemctl:\n        enable: [a, missing, b]\n"
    )
    groups, _ = load_groups([read_host_source(str(config))])
    runner = FakeRunner(fail={("systemctl", "enable", "missing")})
    ctx = RunContext(root=Root(str(tmp_path)), runner=runner, _live=True)
    report = Report("apply", "boot", str(tmp_path), False)
    run_stages(ctx, report, ["boot"], groups)
    (step,) = report.steps
    assert runner.calls == [
        ("systemctl", "enable", "a"),
        ("systemctl", "enable", "missing"),
        ("systemctl", "enable", "b"),
    ]
    assert step.status == "failed"
    assert "systemctl enable missing" in step.reason and "systemctl enable a`" not in step.reason
    assert [a.exit for a in step.actions] == [0, 1, 0]


def test_start_outside_the_running_system_is_skipped_with_the_reason(tmp_path: Path) -> None:
    ctx = RunContext(root=Root(str(tmp_path)), runner=NoRunner(), _live=False)
    (action,) = plan_systemctl(ctx, SystemctlSpec(start=("k3s",)))
    assert (action.kind, action.change, action.path) == ("unit", NONE, "k3s.service")
    assert "running service manager" in action.detail


def test_a_missing_unit_fails_the_step_and_the_others_are_enabled(tmp_path: Path) -> None:
    """yip runs `systemctl enable` once per unit: the unit that exists is
    enabled, the missing one is an error of the step, naming it."""
    root = make_tree(
        tmp_path / "r",
        {f"{U}/a.service": "[Install]\nWantedBy=x.target\n", "/usr/bin/systemctl": ""},
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        "stages:\n  boot:\n    - name: units\n      systemctl:\n"
        '        overrides: [{service: a, content: "[Service]\\n"}]\n'
        "        enable: [missing, a]\n"
    )
    groups, _ = load_groups([read_host_source(str(config))])
    ctx = RunContext(root=Root(str(root)), runner=NoRunner(), _live=False)
    report = Report("apply", "boot", str(root), False)
    run_stages(ctx, report, ["boot"], groups)
    (step,) = report.steps
    assert step.status == "failed"
    assert (
        "missing.service does not exist" in step.reason and "/usr/lib/systemd/system" in step.reason
    )
    assert "cannot enable a" not in step.reason
    assert links(root) == {"/etc/systemd/system/x.target.wants/a.service": f"{U}/a.service"}
    assert (root / "etc/systemd/system/a.service.d/override-yip.conf").is_file()


# -- overrides --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "name", "path"),
    [
        ("foo", "", f"{E}/foo.service.d/override-yip.conf"),
        ("foo.service", "x", f"{E}/foo.service.d/x.conf"),
        ("foo.timer", "x.txt", f"{E}/foo.timer.service.d/x.txt.conf"),
        ("getty@tty1", "10-a.conf", f"{E}/getty@tty1.service.d/10-a.conf"),
        ("foo", ".conf", f"{E}/foo.service.d/.conf"),
    ],
)
def test_override_names_follow_yip(service: str, name: str, path: str) -> None:
    assert override_path(OverrideSpec(service, name, "x")) == path


def test_override_refuses_paths(tmp_path: Path) -> None:
    from executor.errors import StepError

    with pytest.raises(StepError, match="plain file name"):
        override_path(OverrideSpec("../../etc/passwd", "", "x"))


def test_overrides_are_written_atomically_once(tmp_path: Path) -> None:
    ctx = RunContext(root=Root(str(tmp_path)), runner=NoRunner(), _live=False)
    spec = SystemctlSpec(
        overrides=(
            OverrideSpec("k3s", "", "[Service]\nNice=5\n"),
            OverrideSpec("k3s", "empty", ""),
            OverrideSpec(" ", "x", "y"),
        )
    )
    from executor.apply import apply_action

    actions = plan_systemctl(ctx, spec)
    for action in actions:
        apply_action(ctx, action)
    conf = tmp_path / "etc/systemd/system/k3s.service.d/override-yip.conf"
    assert conf.read_text() == "[Service]\nNice=5\n"
    assert conf.stat().st_mode & 0o777 == 0o644
    assert [a.detail for a in actions if "skipped" in a.detail] == [
        "override skipped: empty content (as yip)",
        "override skipped: empty service (as yip)",
    ]
    assert not (tmp_path / "etc/systemd/system/k3s.service.d/empty.conf").exists()
    again = plan_systemctl(ctx, spec)
    assert {a.change for a in again} == {NONE}


def test_an_override_with_install_lines_counts_for_enable_in_the_same_step(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path, {f"{U}/a.service": "[Service]\nExecStart=/bin/true\n"})
    ctx = RunContext(root=DryRunRoot(str(tmp_path)), runner=NoRunner(), _live=False)
    spec = SystemctlSpec(
        enable=("a",),
        overrides=(OverrideSpec("a", "install", "[Install]\nWantedBy=multi-user.target\n"),),
    )
    actions = plan_systemctl(ctx, spec)
    assert (f"{E}/multi-user.target.wants/a.service", f"{U}/a.service") in [
        (a.path, a.target) for a in actions if a.kind == "symlink"
    ]


# -- OpenRC -----------------------------------------------------------------------


def openrc_tree(root: Path, *, scripts: dict[str, int] | None = None) -> Path:
    make_tree(root, {"/sbin/openrc": "", "/etc/runlevels/default": None})
    for path, mode in (scripts or {"/etc/init.d/sshd": 0o755}).items():
        make_tree(root, {path: "#!/sbin/openrc-run\n"})
        os.chmod(root / path.lstrip("/"), mode)
    return root


def openrc(root: Path, **verbs: tuple[str, ...]) -> list[str]:
    from executor.apply import apply_action

    ctx = RunContext(root=Root(str(root)), runner=NoRunner(), _live=False)
    actions = plan_systemctl(ctx, SystemctlSpec(**verbs))
    for action in actions:
        apply_action(ctx, action)
    return [a.change if not a.detail else a.detail for a in actions]


def rl_links(root: Path) -> dict[str, str]:
    base = root / "etc/runlevels/default"
    return {p.name: os.readlink(p) for p in base.iterdir() if p.is_symlink()}


def test_openrc_enable_links_the_default_runlevel_like_rc_update(tmp_path: Path) -> None:
    root = openrc_tree(tmp_path)
    assert openrc(root, enable=("sshd",)) == ["create"]
    assert rl_links(root) == {"sshd": "/etc/init.d/sshd"}
    assert openrc(root, enable=("sshd",)) == ["none"]
    assert openrc(root, disable=("sshd",)) == ["remove"]
    assert rl_links(root) == {}
    assert openrc(root, disable=("sshd",)) == [
        "sshd is not in the default runlevel: nothing to disable"
    ]


def test_openrc_prefers_usr_local_init_scripts(tmp_path: Path) -> None:
    root = openrc_tree(
        tmp_path, scripts={"/etc/init.d/k3s": 0o755, "/usr/local/etc/init.d/k3s": 0o755}
    )
    openrc(root, enable=("k3s",))
    assert rl_links(root) == {"k3s": "/usr/local/etc/init.d/k3s"}


@pytest.mark.parametrize(
    ("scripts", "verbs", "message"),
    [
        ({"/etc/init.d/sshd": 0o755}, {"enable": ("nope",)}, "no init script"),
        ({"/etc/init.d/sshd": 0o644}, {"enable": ("sshd",)}, "/etc/init.d/sshd is not executable"),
        ({"/etc/init.d/x.sh": 0o755}, {"enable": ("x.sh",)}, "no init script"),
        ({"/etc/init.d/sshd": 0o755}, {"mask": ("sshd",)}, "no OpenRC equivalent"),
    ],
)
def test_openrc_errors(
    tmp_path: Path, scripts: dict[str, int], verbs: dict[str, tuple[str]], message: str
) -> None:
    from executor.errors import StepError

    root = openrc_tree(tmp_path, scripts=scripts)
    with pytest.raises(StepError, match=message):
        openrc(root, **verbs)
    assert rl_links(root) == {}


def test_openrc_needs_the_runlevel_directory(tmp_path: Path) -> None:
    from executor.errors import StepError

    root = openrc_tree(tmp_path)
    os.rmdir(root / "etc/runlevels/default")
    with pytest.raises(StepError, match="runlevel default does not exist"):
        openrc(root, enable=("sshd",))


def test_both_service_managers_means_systemd_links(tmp_path: Path) -> None:
    root = openrc_tree(tmp_path)
    make_tree(
        root, {"/usr/bin/systemctl": "", f"{U}/sshd.service": "[Install]\nWantedBy=m.target\n"}
    )
    openrc(root, enable=("sshd",))
    assert rl_links(root) == {}
    assert links(root) == {f"{E}/m.target.wants/sshd.service": f"{U}/sshd.service"}


def test_openrc_start_runs_rc_service_only_when_openrc_runs_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from executor import openrc as openrc_module
    from executor.apply import apply_action

    root = openrc_tree(tmp_path)
    runner = FakeRunner()
    ctx = RunContext(root=Root(str(root)), runner=runner, _live=False)
    (skipped,) = plan_systemctl(ctx, SystemctlSpec(start=("sshd",)))
    assert skipped.change == NONE and "running service manager" in skipped.detail
    monkeypatch.setattr(openrc_module, "openrc_running", lambda plan: True)
    for action in plan_systemctl(ctx, SystemctlSpec(start=("sshd",))):
        apply_action(ctx, action)
    assert runner.calls == [("rc-service", "sshd", "start")]
