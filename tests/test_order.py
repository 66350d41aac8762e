"""Step order inside one stage and one source: yip's DAG (SPEC §3).

The scenario tests use real roots: configs in the root's /oem, run with the
CLI, and the order is observed through what the root holds afterwards (a
later step's condition looks at what an earlier one wrote).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.cli import main
from executor.model import Config, Position, Step
from executor.order import plan_run, plan_source, plan_stage, step_names
from tests.conftest import make_tree


def run(root: Path, *args: str) -> int:
    return main([*args, "--root", str(root), "--no-cmdline"])


def report(root: Path, stage: str) -> Any:
    """The JSON report a real run keeps in the root."""
    return json.loads((root / "run/stage-executor" / f"{stage}.json").read_text())


# -- yip's ordering cases, on a real root ---------------------------------------------


def test_two_files_run_in_lexical_order(tmp_path: Path) -> None:
    # yip "Run yip files in sequence": each file acts only on what the one
    # before it left (boo -> bar -> baz), so the root tells the order.
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/02_second.yaml": """stages:
  test:
  - if: '[ -e /etc/test/bar ]'
    files:
    - path: /etc/test/baz
      content: baz
""",
            "/oem/01_first.yaml": """stages:
  test:
  - if: '[ -e /etc/test/boo ]'
    files:
    - path: /etc/test/bar
      content: bar
""",
            "/etc/test/boo": "boo",
        },
    )
    assert run(root, "apply", "-s", "test", str(root / "oem")) == 0
    assert (root / "etc/test/baz").read_text() == "baz"


def test_after_names_a_step_of_a_later_file(tmp_path: Path) -> None:
    # yip "Run yip files in sequence with after": 01_first's step waits for
    # the step `test` of the config named `test`, which lives in 02_second.
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/01_first.yaml": """stages:
  test:
  - after:
    - name: "test.test"
    if: '[ -e /etc/test/bar ]'
    files:
    - path: /etc/test/baz
      content: baz
""",
            "/oem/02_second.yaml": """name: "test"
stages:
  test:
  - name: "test"
    if: '[ -e /etc/test/boo ]'
    files:
    - path: /etc/test/bar
      content: bar
""",
            "/etc/test/boo": "boo",
        },
    )
    assert run(root, "run-stage", "test") == 0
    assert (root / "etc/test/baz").read_text() == "baz"
    steps = report(root, "test")["steps"]
    assert [s["full_name"] for s in steps] == ["test.test", "/oem/01_first.yaml.0"]
    assert [s["status"] for s in steps] == ["applied", "applied"]


def test_a_failing_step_does_not_stop_the_next_file_and_the_run_exits_1(
    tmp_path: Path,
) -> None:
    # yip "Reports error, and executes all yip files": a file cannot be
    # written over a directory, so 01_first's step fails.
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/01_first.yaml": """stages:
  test:
  - files:
    - path: /etc/test
      content: cannot be a file
""",
            "/oem/02_second.yaml": """stages:
  test:
  - files:
    - path: /etc/test/bar
      content: bar
""",
            "/etc/test/bar": "boo",
        },
    )
    assert run(root, "run-stage", "test") == 1
    assert (root / "etc/test/bar").read_text() == "bar"
    statuses = [s["status"] for s in report(root, "test")["steps"]]
    assert statuses == ["failed", "applied"]


def test_a_step_whose_dependency_failed_still_runs(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": """name: a
stages:
  boot:
  - name: breaks
    files: [{path: /srv/dir, content: x}]
  - name: independent
    files: [{path: /etc/x, content: x}]
  - name: waits
    after: [{name: a.breaks}]
    files: [{path: /etc/waited, content: y}]
""",
            "/srv/dir": None,
        },
    )
    assert run(root, "apply", "-s", "boot", str(root / "oem")) == 1
    assert (root / "etc/waited").read_text() == "y"


def test_fail_fast_stops_and_reports_the_rest_as_not_run(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": """name: a
stages:
  boot.before:
  - name: breaks
    files: [{path: /srv/dir, content: x}]
  - name: next
    files: [{path: /etc/next, content: x}]
  boot:
  - name: later
    files: [{path: /etc/later, content: x}]
""",
            "/srv/dir": None,
        },
    )
    assert run(root, "run-stage", "boot", "--fail-fast") == 1
    assert not (root / "etc/next").exists()
    assert not (root / "etc/later").exists()
    steps = report(root, "boot")["steps"]
    assert [(s["full_name"], s["status"]) for s in steps] == [
        ("a.breaks", "failed"),
        ("a.next", "skipped"),
        ("a.later", "skipped"),
    ]
    assert "--fail-fast" in steps[1]["reason"] and "a.breaks" in steps[1]["reason"]


# -- errors found before anything runs ----------------------------------------------


CYCLE = """name: loop
stages:
  boot.before:
  - name: early
    files: [{path: /etc/early, content: x}]
  boot.after:
  - name: x
    after: [{name: loop.y}]
    files: [{path: /etc/x, content: x}]
  - name: y
    after: [{name: loop.x}]
    files: [{path: /etc/y, content: y}]
"""


def test_a_cycle_is_an_error_of_its_file_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/10_loop.yaml": CYCLE,
            "/oem/20_good.yaml": (
                "stages:\n  boot.before:\n  - files: [{path: /etc/good, content: g}]\n"
            ),
        },
    )
    assert run(root, "run-stage", "boot") == 1
    out = capsys.readouterr().out
    # positioned at the `after` entries that close the loop, reported before
    # the first step line
    assert out.index("/oem/10_loop.yaml:8:20: error: cycle in the step order") < out.index(
        "applied"
    )
    assert "/oem/10_loop.yaml:11:20: error: cycle" in out
    # none of the file's steps runs, in any substage; the other file runs
    assert not (root / "etc/early").exists()
    assert not (root / "etc/x").exists()
    assert (root / "etc/good").read_text() == "g"


def test_an_unknown_after_target_is_positioned_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path / "root",
        {
            "/oem/a.yaml": """name: a
stages:
  boot:
  - name: first
    files: [{path: /etc/first, content: x}]
  - name: second
    after: [{name: a.frist}]
    files: [{path: /etc/second, content: x}]
""",
        },
    )
    assert run(root, "apply", "-s", "boot", str(root / "oem")) == 1
    out = capsys.readouterr().out
    where = f"{root}/oem/a.yaml:7:20: error: after: `a.frist` names no step of stage boot"
    assert where in out
    assert "did you mean `a.first`?" in out
    assert "(stages.boot[1].after[0].name)" in out
    assert not (root / "etc").exists()


def test_a_file_left_out_takes_the_steps_that_wait_for_it_along(tmp_path: Path) -> None:
    configs = [
        _config(
            "a",
            {
                "boot": [
                    _step("boot", 0, "x", after=("a.y",)),
                    _step("boot", 1, "y", after=("a.x",)),
                ]
            },
        ),
        _config("b", {"boot": [_step("boot", 0, "z", after=("a.x",))]}),
        _config("c", {"boot": [_step("boot", 0, "w")]}),
    ]
    plans, problems, dropped = plan_source(configs, ["boot"])
    assert [c.name for c in dropped] == ["a", "b"]
    assert [s.full_name for s in plans[0].steps] == ["c.w"]
    assert sum(p.severity == "error" for p in problems) == 3


# -- names and layers ----------------------------------------------------------------


def _step(stage: str, index: int, name: str = "", after: tuple[str, ...] = ()) -> Step:
    return Step(stage=stage, index=index, name=name, after=after, pos=Position("src", index + 3, 5))


def _config(name: str, stages: dict[str, list[Step]], path: str = "") -> Config:
    return Config(
        path or f"/oem/{name}.yaml",
        name,
        {k: tuple(v) for k, v in stages.items()},
        "/oem",
        path or f"/oem/{name}.yaml",
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a", "b"], ["c.a", "c.b"]),
        (["", "b", ""], ["c..0", "c.b.1", "c..2"]),  # two unnamed steps repeat ""
        (["", "b"], ["c.0", "c.b"]),
        (["x", "x", "y"], ["c.x.0", "c.x.1", "c.y.2"]),
    ],
)
def test_step_names_follow_yip(names: list[str], expected: list[str]) -> None:
    config = _config("c", {})
    steps = tuple(_step("s", i, n) for i, n in enumerate(names))
    assert step_names(config, steps) == expected


def test_config_without_name_is_named_by_its_path() -> None:
    config = Config("/oem/x.yaml", "", {"s": (_step("s", 0),)}, "/oem", "/oem/x.yaml")
    plan, _, _ = plan_stage([config], "s")
    assert plan.steps[0].full_name == "/oem/x.yaml.0"


def test_the_same_full_name_in_two_files_gets_a_suffix_and_a_warning() -> None:
    configs = [
        _config("same", {"s": [_step("s", 0, "step")]}, path=f"/oem/{i}.yaml") for i in range(3)
    ]
    plan, problems, bad = plan_stage(configs, "s")
    assert [s.full_name for s in plan.steps] == ["same.step", "same.step.1", "same.step.2"]
    assert not bad
    assert [p.severity for p in problems] == ["warning", "warning"]
    assert "also used in /oem/0.yaml" in problems[0].message


def test_after_a_duplicate_name_means_the_first() -> None:
    configs = [
        _config("w", {"s": [_step("s", 0, "waits", after=("same.step",))]}, path="/oem/0.yaml"),
        _config("same", {"s": [_step("s", 0, "step")]}, path="/oem/1.yaml"),
        _config("same", {"s": [_step("s", 0, "step")]}, path="/oem/2.yaml"),
    ]
    plan, _, _ = plan_stage(configs, "s")
    layers = [[(s.full_name, s.config.source) for s in layer] for layer in plan.layers]
    assert layers == [
        [("same.step", "/oem/1.yaml")],
        [("w.waits", "/oem/0.yaml"), ("same.step.1", "/oem/2.yaml")],
    ]


def test_a_step_with_after_does_not_hold_the_next_file_back() -> None:
    configs = [
        _config(
            "one", {"s": [_step("s", 0, "plain"), _step("s", 1, "late", after=("three.end",))]}
        ),
        _config("two", {"s": [_step("s", 0, "mid")]}),
        _config("three", {"s": [_step("s", 0, "end")]}),
    ]
    plan, problems, bad = plan_stage(configs, "s")
    assert not problems and not bad
    layers = [[s.full_name for s in layer] for layer in plan.layers]
    assert layers == [["one.plain"], ["two.mid"], ["three.end"], ["one.late"]]
    by_name = {s.full_name: s for s in plan.steps}
    assert by_name["two.mid"].deps == ("one.plain",)  # not one.late
    assert set(by_name["one.late"].deps) == {"three.end"}


def test_layers_keep_file_order_inside_a_layer() -> None:
    # a.p waits for b.q only, so it shares a layer with b.r; inside the layer
    # file order holds (a before b): one of the orders yip could produce.
    configs = [
        _config("a", {"s": [_step("s", 0, "p", after=("b.q",))]}),
        _config("b", {"s": [_step("s", 0, "q"), _step("s", 1, "r")]}),
    ]
    plan, _, _ = plan_stage(configs, "s")
    layers = [[s.full_name for s in layer] for layer in plan.layers]
    assert layers == [["b.q"], ["a.p", "b.r"]]


def test_a_file_without_steps_in_the_stage_does_not_cut_the_chain() -> None:
    configs = [
        _config("a", {"s": [_step("s", 0, "one")]}),
        _config("b", {"other": [_step("other", 0, "elsewhere")]}),
        _config("c", {"s": [_step("s", 0, "two")]}),
    ]
    plan, _, _ = plan_stage(configs, "s")
    assert plan.steps[1].full_name == "c.two"
    assert plan.steps[1].deps == ("a.one",)


def test_plan_run_is_stage_major_over_sources() -> None:
    class Group:
        def __init__(self, label: str, configs: list[Config]) -> None:
            self.label, self.configs = label, configs

    g1 = Group(
        "/system/oem",
        [_config("sys", {"x.before": [_step("x.before", 0, "b")], "x": [_step("x", 0, "m")]})],
    )
    g2 = Group("/oem", [_config("oem", {"x.before": [_step("x.before", 0, "b")]})])
    plan = plan_run([g1, g2], ["x.before", "x", "x.after"])
    assert [(p.stage, p.group) for p in plan.stages] == [
        ("x.before", "/system/oem"),
        ("x.before", "/oem"),
        ("x", "/system/oem"),
        ("x", "/oem"),
        ("x.after", "/system/oem"),
        ("x.after", "/oem"),
    ]
    assert [s.full_name for p in plan.stages for s in p.steps] == ["sys.b", "oem.b", "sys.m"]


# -- the order against the rules, for random sources --------------------------------


def _expected_deps(configs: list[Config], stage: str) -> dict[str, set[str]]:
    """The dependency rules as yip's dirOps/genOpFromSchema state them."""
    deps: dict[str, set[str]] = {}
    previous: list[tuple[str, Step]] = []
    for config in configs:
        steps = config.stages.get(stage, ())
        if not steps:
            continue
        named = list(zip(step_names(config, steps), steps, strict=True))
        for i, (name, step) in enumerate(named):
            wanted = set(step.after)
            if not step.after and i > 0:
                wanted.add(named[i - 1][0])
            wanted |= {n for n, s in previous if not s.after}
            deps[name] = wanted
        previous = named
    return deps


@st.composite
def sources(draw: st.DrawFn) -> list[Config]:
    n_files = draw(st.integers(1, 4))
    configs: list[Config] = []
    names: list[str] = []
    for f in range(n_files):
        steps = []
        for i in range(draw(st.integers(0, 4))):
            after: tuple[str, ...] = ()
            if names and draw(st.booleans()):
                after = tuple(draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)))
            steps.append(_step("s", i, f"n{i}", after))
        config = _config(f"f{f}", {"s": steps})
        names += [f"f{f}.n{i}" for i in range(len(steps))]
        configs.append(config)
    return configs


@settings(max_examples=150, deadline=None)
@given(sources())
def test_the_order_respects_every_dependency_and_is_deterministic(configs: list[Config]) -> None:
    plan, problems, bad = plan_stage(configs, "s")
    if bad:  # only cycles can make a generated source bad (targets all exist)
        assert all("cycle" in p.message for p in problems if p.severity == "error")
        return
    order = [s.full_name for s in plan.steps]
    assert sorted(order) == sorted(n for c in configs for n in step_names(c, c.stages["s"]))
    position = {name: i for i, name in enumerate(order)}
    expected = _expected_deps(configs, "s")
    layer_of = {s.full_name: s.layer for s in plan.steps}
    for step in plan.steps:
        assert set(step.deps) == expected[step.full_name]
        for dep in step.deps:
            assert position[dep] < position[step.full_name]
            assert layer_of[dep] < layer_of[step.full_name]
    again, _, _ = plan_stage(configs, "s")
    assert [s.full_name for s in again.steps] == order
    if not any(s.after for c in configs for s in c.stages["s"]):
        assert order == [n for c in configs for n in step_names(c, c.stages["s"])]


# -- the same three cases with real commands, chrooted into a root with a shell -----


def _root_with_shell(root: Path) -> Path:
    """A root whose /bin/sh is the host's dash, with the libraries it needs."""
    import shutil
    import subprocess

    dash = shutil.which("dash")
    if dash is None or os.geteuid() != 0:
        pytest.skip("needs dash and root (commands run chrooted into the root)")
    needed = [os.path.realpath(dash)]
    for line in subprocess.run(["ldd", dash], capture_output=True, text=True).stdout.splitlines():
        for word in line.split():
            if word.startswith("/"):
                needed.append(word)
    for path in needed:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    sh = root / "bin/sh"
    sh.parent.mkdir(parents=True, exist_ok=True)
    if not sh.exists():
        shutil.copy2(os.path.realpath(dash), sh)
    return root


# dash has no sed: `read` + `case` replace the file's word as yip's `sed -i` does
def _replace(old: str, new: str) -> str:
    return f'read v < /tmp/test/bar; case "$v" in {old}) echo {new} > /tmp/test/bar;; esac'


YIP_CASES = {
    "in sequence": (
        {
            "01_first.yaml": f"stages:\n  test:\n  - commands:\n    - {_replace('boo', 'bar')}\n",
            "02_second.yaml": f"stages:\n  test:\n  - commands:\n    - {_replace('bar', 'baz')}\n",
        },
        0,
        "baz",
    ),
    "with after": (
        {
            "01_first.yaml": (
                'stages:\n  test:\n  - after:\n    - name: "test.test"\n'
                f"    commands:\n    - {_replace('bar', 'baz')}\n"
            ),
            "02_second.yaml": (
                'name: "test"\nstages:\n  test:\n  - name: "test"\n'
                f"    commands:\n    - {_replace('boo', 'bar')}\n"
            ),
        },
        0,
        "baz",
    ),
    "error, all files run": (
        {
            "01_first.yaml": "stages:\n  test:\n  - commands:\n    - exit 1\n",
            "02_second.yaml": f"stages:\n  test:\n  - commands:\n    - {_replace('boo', 'bar')}\n",
        },
        1,
        "bar",
    ),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("case", list(YIP_CASES))
def test_yip_executor_cases_with_real_commands(tmp_path: Path, case: str) -> None:
    files, code, final = YIP_CASES[case]
    root = _root_with_shell(make_tree(tmp_path / "root", {"/tmp/test/bar": "boo\n"}))
    make_tree(root, {f"/some/yip/{name}": text for name, text in files.items()})
    assert run(root, "apply", "-s", "test", str(root / "some/yip")) == code
    assert (root / "tmp/test/bar").read_text() == final + "\n"


# -- long chains: no recursion limit, graphlib as the oracle for cycles -------------


def _chain_source(n: int, closes_at: int | None) -> str:
    """n steps, each after the one before; step 0 after step `closes_at` when given."""
    lines = ["name: c", "stages:", "  boot:"]
    for i in range(n):
        target = i - 1 if i else closes_at
        lines.append(f"  - name: s{i}")
        if target is not None:
            lines.append(f"    after: [{{name: c.s{target}}}]")
        lines.append(f"    files: [{{path: /etc/s{i % 3}, content: x}}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("command", ["validate", "apply", "analyze"])
def test_a_3000_step_cycle_is_an_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    source = tmp_path / "chain.yaml"
    source.write_text(_chain_source(3000, closes_at=2999))
    (tmp_path / "root").mkdir()
    args = {
        "validate": ["validate", str(source)],
        "analyze": ["analyze", "boot", str(source)],
        "apply": ["apply", "-s", "boot", str(source)],
    }[command]
    assert run(tmp_path / "root", *args) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "cycle in the step order: c.s0 -> c.s1 -> c.s2 -> ... (2994 more) -> " in (
        captured.out + captured.err
    )
    assert not (tmp_path / "root/etc").exists()


@settings(max_examples=25, deadline=None)
@given(st.integers(1500, 4000), st.data())
def test_long_chains_are_ordered_or_their_cycle_found_as_graphlib_says(
    n: int, data: st.DataObject
) -> None:
    import graphlib

    closes_at = data.draw(st.one_of(st.none(), st.integers(0, n - 1)))
    # a few extra `after` edges at random, pointing backwards or forwards
    extra = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=5))
    afters: dict[int, set[int]] = {i: ({i - 1} if i else set()) for i in range(n)}
    if closes_at is not None:
        afters[0].add(closes_at)
    for a, b in extra:
        afters[a].add(b)
    steps = [
        _step("boot", i, f"s{i}", tuple(f"c.s{d}" for d in sorted(afters[i]))) for i in range(n)
    ]
    configs = [_config("c", {"boot": steps})]
    has_cycle = False
    try:
        graphlib.TopologicalSorter({i: afters[i] for i in range(n)}).prepare()
    except graphlib.CycleError:
        has_cycle = True
    plan, problems, bad = plan_stage(configs, "boot")
    assert bool(bad) == has_cycle
    if has_cycle:
        assert any("cycle in the step order" in p.message for p in problems)
        return
    position = {s.full_name: i for i, s in enumerate(plan.steps)}
    assert len(position) == n
    for i in range(n):
        for d in afters[i]:
            assert position[f"c.s{d}"] < position[f"c.s{i}"]
