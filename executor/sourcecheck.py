"""The `validate` command's check of whole sources, as a run would load them.

Every document of every source (loaded as the engine loads them: each
value checked by `validate` as the loader converts it), then the step order
of each source (`after:` targets and cycles, found by `order`, where the
DAG lives), then, against a root, the units to enable that nothing provides.
"""

from __future__ import annotations

from executor.engine import load_document, load_groups, strict_problem

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from executor.errors import Problem
    from executor.model import Config
    from executor.root import Root
    from executor.sources import SourceGroup


# -- whole sources -----------------------------------------------------------------


def check_sources(
    read: list[SourceGroup], *, strict: bool = False, root: Root | None = None
) -> list[Problem]:
    """Every problem of the sources, in document order, then line order.

    What a run would report before running anything (each document checked
    on its own, then the step order of the valid ones), and beyond that the
    step-order problems of the invalid documents too, checked among all the
    documents that parsed: so one pass shows everything to fix.
    """
    groups, problems = load_groups(read, strict=strict, quiet=True)
    for group, source in zip(groups, read, strict=True):
        found = _order_problems(group.configs, group.label)
        parsed = [
            r.config
            for doc in source.documents
            if (r := load_document(doc, group.label)).config is not None
        ]
        if len(parsed) > len(group.configs):
            valid = {c.source for c in group.configs}
            found += [p for p in _order_problems(parsed, group.label) if p.source not in valid]
        problems += [strict_problem(p, strict) for p in found if p not in problems]
    if root is not None:  # a unit file written by any source counts
        found = unit_problems([c for g in groups for c in g.configs], root)
        problems += [strict_problem(p, strict) for p in found]
    rank = {doc.source or doc.name: i for i, doc in enumerate(d for g in read for d in g.documents)}
    return sorted(problems, key=lambda p: (rank.get(p.source, -1), p.line, p.column))


def unit_problems(configs: list[Config], root: Root) -> list[Problem]:
    """Units to enable that neither the root nor any source provides.

    The run fails such a step (systemctl enable of a unit that does not
    exist). A warning, not an error: the root checked may not be the root
    the boot will see, and a command of an earlier step may install the unit.
    A unit file written by a `files` entry of any source counts as provided.
    """
    import posixpath

    from executor.errors import Problem
    from executor.units import UNIT_PATHS
    from executor.units.names import INSTANCE, UnitNameError, classify, mangle, template_of

    written = {
        posixpath.basename(f.path)
        for c in configs
        for steps in c.stages.values()
        for step in steps
        for f in step.files
        if posixpath.dirname(f.path) in UNIT_PATHS
    }
    found: list[Problem] = []
    for config in configs:
        for steps in config.stages.values():
            for step in steps:
                for i, unit in enumerate(step.systemctl.enable):
                    try:
                        name = mangle(unit)
                    except UnitNameError:
                        continue  # reported by check_unit
                    names = [name, template_of(name)] if classify(name) == INSTANCE else [name]
                    if written.intersection(names) or _unit_in_root(root, names, UNIT_PATHS):
                        continue
                    pos = step.pos
                    found.append(
                        Problem(
                            "warning",
                            config.source,
                            pos.line if pos else 0,
                            pos.column if pos else 0,
                            f"stages.{step.stage}[{step.index}].systemctl.enable[{i}]",
                            f"unit {name} is not in {root.path}'s unit paths and no source writes"
                            " it: enabling it will fail there",
                        )
                    )
    return found


def _unit_in_root(root: Root, names: list[str], directories: tuple[str, ...]) -> bool:
    from executor.errors import RootError

    for name in names:
        for directory in directories:
            try:
                if root.lookup(f"{directory}/{name}") is not None:
                    return True
            except RootError:
                continue
    return False


def _order_problems(configs: list[Config], label: str) -> list[Problem]:
    from executor.order import plan_source

    stages = sorted({stage for config in configs for stage in config.stages})
    return plan_source(configs, stages, label)[1]
