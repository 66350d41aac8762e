"""Execution order of one stage over the documents of one source: yip's DAG.

Names. Every step has a full name `CONFIG.STEP`: CONFIG is the document's
`name`, else its path; STEP is the step's `name`, else its index, and
`NAME.INDEX` for every step of the document when two of its steps share a
name. When two documents of a source give the same full name, the later step
is called `NAME.1` (`NAME.2`, ...) and a warning says so; `after` names still
mean the first one, as in yip.

Dependencies (yip pkg/executor/default.go):
- a step without `after` depends on the step before it in its document;
- a step with `after: [{name: X}, ...]` depends on exactly those steps, which
  may be in any document of the same source;
- every step of a document depends on each step of the previous document
  (the last one, in path order, with steps in this stage) that has no `after`,
  so a step with `after` does not hold the next document back.

Order. yip runs the graph layer by layer, the steps of one layer in parallel.
We run the same layers one after the other and, inside a layer, in document
order then step order. The result is always an order yip could produce, and
without `after` it is exactly file order. A failed step does not stop the
steps that depend on it (yip's weak dependencies).

Errors, found before anything runs: an `after` naming no step of the stage
in the same source, and a cycle. Each is an error of the document holding
the step; that document is left out whole (none of its steps runs in any
stage), and the order is computed again without it.

Differences from yip, on purpose: a document with no steps in the stage does
not cut the chain between the documents around it (in yip it does, by
accident), a third duplicate name gets `.2` (yip gives `.1` twice), and
unknown targets and cycles are reported instead of ignored or panicking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from executor.errors import Problem
from executor.model import Config, Position, Step
from executor.record import dataclass, field

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # structural typing is mypy's business; at run time a plain base


@dataclass(frozen=True)
class PlannedStep:
    config: Config
    step: Step
    full_name: str
    layer: int = 0  # 0-based layer of the DAG
    deps: tuple[str, ...] = ()  # full names this step waits for


@dataclass
class StagePlan:
    """One stage over one source: the layers of its DAG, in run order."""

    stage: str
    group: str
    layers: list[list[PlannedStep]] = field(default_factory=list)

    @property
    def steps(self) -> list[PlannedStep]:
        return [step for layer in self.layers for step in layer]


class SourceConfigs(Protocol):
    """What order needs of a loaded source: its label and documents in path order."""

    label: str
    configs: list[Config]


@dataclass
class RunPlan:
    """The order of every (stage, source) pair of a run, stage-major."""

    stages: list[StagePlan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    dropped: list[Config] = field(default_factory=list)


def step_names(config: Config, steps: tuple[Step, ...]) -> list[str]:
    """Full names of a document's steps of one stage."""
    counts = Counter(s.name for s in steps)
    repeated = any(n > 1 for n in counts.values())
    names = []
    for i, step in enumerate(steps):
        local = f"{step.name}.{i}" if repeated else (step.name or str(i))
        names.append(f"{config.display_name}.{local}")
    return names


# -- one stage, one source ---------------------------------------------------------


@dataclass
class _Node:
    index: int  # position in the source: document order, then step order
    config_index: int
    config: Config
    step: Step
    name: str
    deps: list[int] = field(default_factory=list)


@dataclass
class _Graph:
    nodes: list[_Node]
    problems: list[Problem]
    bad: set[int]  # indexes (in the config list) of documents with an error


def _build(configs: Sequence[Config], stage: str) -> _Graph:
    nodes: list[_Node] = []
    problems: list[Problem] = []
    bad: set[int] = set()
    by_name: dict[str, int] = {}
    previous_file: list[_Node] = []
    for ci, config in enumerate(configs):
        steps = config.stages.get(stage, ())
        if not steps:
            continue
        this_file: list[_Node] = []
        for step, name in zip(steps, step_names(config, steps), strict=True):
            unique = _unique(name, by_name, nodes, config, step, problems)
            node = _Node(len(nodes), ci, config, step, unique)
            if not step.after and this_file:
                node.deps.append(this_file[-1].index)
            node.deps += [p.index for p in previous_file if not p.step.after]
            by_name.setdefault(name, node.index)
            by_name[unique] = node.index
            nodes.append(node)
            this_file.append(node)
        previous_file = this_file
    for node in nodes:
        for j, target in enumerate(dict.fromkeys(node.step.after)):
            found = by_name.get(target)
            if found is None:
                problems.append(_unknown_target(node, j, target, by_name))
                bad.add(node.config_index)
            elif found not in node.deps:
                node.deps.append(found)
    return _Graph(nodes, problems, bad)


def _unique(
    name: str,
    taken: dict[str, int],
    nodes: list[_Node],
    config: Config,
    step: Step,
    problems: list[Problem],
) -> str:
    if name not in taken:
        return name
    n = 1
    while f"{name}.{n}" in taken:
        n += 1
    first = nodes[taken[name]]
    problems.append(
        _problem(
            "warning",
            config,
            step,
            "name",
            f"full name `{name}` is also used in {first.config.source}; this step is called"
            f" `{name}.{n}`, and `after` names mean the first one",
        )
    )
    return f"{name}.{n}"


def _unknown_target(node: _Node, j: int, target: str, names: Iterable[str]) -> Problem:
    import difflib  # only when there is something to suggest

    close = difflib.get_close_matches(target, list(names), n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    j = node.step.after.index(target)  # as written (the loop went over unique targets)
    return _problem(
        "error",
        node.config,
        node.step,
        f"after[{j}].name",
        f"after: `{target}` names no step of stage {node.step.stage} in this source{hint}",
        at=_after_pos(node.step, j),
    )


def _after_pos(step: Step, j: int) -> Position | None:
    """Where the name of `after` entry j is written, when the loader kept it."""
    return step.after_pos[j] if j < len(step.after_pos) else None


def _problem(
    severity: str,
    config: Config,
    step: Step,
    key: str,
    message: str,
    *,
    at: Position | None = None,
) -> Problem:
    pos = at or step.pos
    line, column = (pos.line, pos.column) if pos else (0, 0)
    path = f"stages.{step.stage}[{step.index}].{key}"
    return Problem(severity, config.source, line, column, path, message)


def _layers(graph: _Graph) -> list[list[_Node]] | None:
    """Kahn's layers, each in source order; None when some nodes are on or behind a cycle.

    Linear in steps plus dependencies: a source of 10,000 steps is a chain of
    10,000 layers, so rescanning the remaining steps per layer was quadratic.
    """
    count = len(graph.nodes)
    waiting = [0] * count  # unplaced dependencies of each node
    dependants: list[list[int]] = [[] for _ in range(count)]
    for node in graph.nodes:
        for dep in set(node.deps):
            waiting[node.index] += 1
            dependants[dep].append(node.index)
    ready = [i for i in range(count) if not waiting[i]]
    layers: list[list[_Node]] = []
    placed = 0
    while ready:
        layers.append([graph.nodes[i] for i in ready])
        placed += len(ready)
        unblocked: list[int] = []
        for i in ready:
            for user in dependants[i]:
                waiting[user] -= 1
                if not waiting[user]:
                    unblocked.append(user)
        ready = sorted(unblocked)
    return layers if placed == count else None


def _cycles(graph: _Graph) -> list[list[_Node]]:
    """Every cycle closed by a back edge of a depth-first walk (each reported once).

    Iterative, with an explicit stack of (node, next dependency to look at):
    a chain of thousands of `after` steps is a path that deep, and Python's
    recursion limit (1000) is not a limit the config format has.
    """
    state: dict[int, int] = {}  # 1 on the path, 2 done
    path: list[int] = []
    on_path: dict[int, int] = {}  # node -> its position in `path`
    found: list[list[_Node]] = []
    seen: set[frozenset[int]] = set()
    for node in graph.nodes:
        if node.index in state:
            continue
        work: list[tuple[int, int]] = [(node.index, 0)]
        state[node.index] = 1
        on_path[node.index] = 0
        path.append(node.index)
        while work:
            i, k = work[-1]
            deps = graph.nodes[i].deps
            if k == len(deps):
                work.pop()
                path.pop()
                del on_path[i]
                state[i] = 2
                continue
            work[-1] = (i, k + 1)
            d = deps[k]
            if state.get(d) == 1:
                loop = path[on_path[d] :]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    found.append([graph.nodes[j] for j in loop])
            elif d not in state:
                state[d] = 1
                on_path[d] = len(path)
                path.append(d)
                work.append((d, 0))
    return found


def _cycle_problems(graph: _Graph) -> None:
    for loop in _cycles(graph):
        # deps point backwards in time: show the chain in run order, from
        # the step that comes first in the source
        ordered = list(reversed(loop))
        start = ordered.index(min(ordered, key=lambda n: n.index))
        ordered = ordered[start:] + ordered[:start]
        chain = _chain([n.name for n in ordered])
        for k, node in enumerate(loop):
            # a node waits for the next one of the loop: point at the `after`
            # entry that says so, when it is one (else at the step)
            waits_for = loop[(k + 1) % len(loop)].name
            after = node.step.after
            j = after.index(waits_for) if waits_for in after else -1
            key = f"after[{j}].name" if j >= 0 else "after" if after else "name"
            graph.problems.append(
                _problem(
                    "error",
                    node.config,
                    node.step,
                    key,
                    f"cycle in the step order: {chain}; none of this document's steps will run",
                    at=_after_pos(node.step, j) if j >= 0 else None,
                )
            )
            graph.bad.add(node.config_index)


def _chain(names: list[str], keep: int = 6) -> str:
    """`a -> b -> ... -> a`; a long loop keeps its ends and counts the middle.

    Every step of the loop gets the message, so printing a 3000-step loop in
    full would print it 3000 times.
    """
    if len(names) > keep + 1:
        middle = len(names) - keep
        names = [*names[: keep // 2], f"... ({middle} more)", *names[-(keep // 2) :]]
    return " -> ".join([*names, names[0]])


def plan_stage(
    configs: Sequence[Config], stage: str, group: str = ""
) -> tuple[StagePlan, list[Problem], set[int]]:
    """The DAG of one stage over one source's documents.

    Returns the plan, the problems, and the indexes of the documents that hold
    an error (the plan is only meaningful when that set is empty).
    """
    graph = _build(configs, stage)
    layers = _layers(graph)
    if layers is None:
        _cycle_problems(graph)
        return StagePlan(stage, group), graph.problems, graph.bad
    names = {n.index: n.name for n in graph.nodes}
    plan = StagePlan(
        stage,
        group,
        [
            [
                PlannedStep(n.config, n.step, n.name, layer, tuple(names[d] for d in n.deps))
                for n in layer_nodes
            ]
            for layer, layer_nodes in enumerate(layers)
        ],
    )
    return plan, graph.problems, graph.bad


def plan_source(
    configs: Sequence[Config], stages: Sequence[str], group: str = ""
) -> tuple[list[StagePlan], list[Problem], list[Config]]:
    """Plans of every stage over one source; documents with DAG errors left out.

    Leaving a document out can break another's `after` (its target is gone),
    so this repeats until no document has an error. Returns the plans, the
    problems, and the documents left out.
    """
    kept = list(configs)
    dropped: list[Config] = []
    problems: list[Problem] = []
    while True:
        plans: list[StagePlan] = []
        bad: set[int] = set()
        round_problems: list[Problem] = []
        for stage in stages:
            plan, found, stage_bad = plan_stage(kept, stage, group)
            plans.append(plan)
            round_problems += found
            bad |= stage_bad
        errors = [p for p in round_problems if p.severity == "error"]
        problems += [p for p in errors if p not in problems]
        if not bad:
            problems += [p for p in round_problems if p not in problems]
            return plans, problems, dropped
        dropped += [kept[i] for i in sorted(bad)]
        kept = [c for i, c in enumerate(kept) if i not in bad]


def plan_run(groups: Sequence[SourceConfigs], stages: Sequence[str]) -> RunPlan:
    """Plans of every stage over every source, stage-major (the run order)."""
    by_group = [plan_source(g.configs, stages, g.label) for g in groups]
    run = RunPlan()
    for si in range(len(stages)):
        run.stages += [plans[si] for plans, _, _ in by_group]
    for _, problems, dropped in by_group:
        run.problems += problems
        run.dropped += dropped
    return run


def order_stage(configs: list[Config], stage: str) -> list[PlannedStep]:
    """Steps of `stage` in execution order (documents with DAG errors left out)."""
    plans, _, _ = plan_source(configs, [stage])
    return plans[0].steps
