"""The step's table (schema.STEP_MODULES) is the one declaration of a module key.

The schema, the Step the loader builds, the planners and `used_modules` are
derived from it; these tests fail when one of them has a key the others lack,
so adding a module is one entry in the table (plus its planner, and for a
typed module its Step field and builder, which the tests hold to the entry).
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
import yaml

from executor import schema as S
from executor.load import load_text
from executor.model import Step
from executor.modules import MODULE_ORDER, PLANNERS, used_modules
from executor.record import fields

# Step attributes that are not module keys: the step's own keys and bookkeeping.
STEP_OWN = {
    "stage",
    "index",
    "name",
    "if_",
    "if_files",
    "only_os",
    "only_os_version",
    "only_arch",
    "only_service_manager",
    "node",
    "after",
    "after_pos",
    "modules",
    "pos",
}
SCHEMA_OWN = {
    "name",
    "if",
    "if_files",
    "only_os",
    "only_os_version",
    "only_arch",
    "only_service_manager",
    "node",
    "after",
}
# yip's default plugin order (mudler/yip pkg/executor/default.go), read there.
YIP_ORDER = (
    "dns",
    "downloads",
    "git",
    "ensure_entities",
    "directories",
    "files",
    "commands",
    "delete_entities",
    "hostname",
    "sysctl",
    "users",
    "authorized_keys",
    "modules",
    "timesyncd",
    "systemctl",
    "environment",
    "systemd_firstboot",
    "datasource",
    "layout",
    "package_pins",
    "packages",
    "unpack_images",
)


def test_the_schema_of_a_step_has_exactly_the_tables_keys() -> None:
    keys = [m.key for m in S.STEP_MODULES]
    assert len(keys) == len(set(keys))
    assert set(S.STEP.fields) - SCHEMA_OWN == set(keys)
    for m in S.STEP_MODULES:
        assert S.STEP.fields[m.key] is m.field


def test_every_typed_attribute_of_step_is_one_entrys_and_built_by_it() -> None:
    attrs = [m.attr for m in S.STEP_MODULES if m.attr]
    assert len(attrs) == len(set(attrs))
    assert {f.name for f in fields(Step)} - STEP_OWN == set(attrs)
    for m in S.STEP_MODULES:
        assert (m.attr == "") == (m.build is None), m.key


def test_the_run_order_is_yips_and_every_module_runs_or_is_refused() -> None:
    runs = sorted(m.run for m in S.STEP_MODULES if m.run)
    assert runs == list(range(1, len(runs) + 1))
    assert MODULE_ORDER == YIP_ORDER
    assert set(PLANNERS) | set(S.UNSUPPORTED_MODULES) == set(MODULE_ORDER)
    assert not set(PLANNERS) & set(S.UNSUPPORTED_MODULES)
    options = [m.key for m in S.STEP_MODULES if not m.run]
    assert options == ["environment_file"]  # read by environment's planner
    assert all(not m.planner for m in S.STEP_MODULES if not m.run)


def test_each_planner_exists_and_takes_the_step_attributes_it_is_given() -> None:
    step_fields = {f.name for f in fields(Step)}
    for m in S.STEP_MODULES:
        if not m.planner:
            continue
        module, function = m.planner.split(".")
        planner = getattr(import_module(f"executor.modules.{module}"), function)
        assert set(m.planner_args) <= step_fields, m.key
        params = list(inspect.signature(planner).parameters.values())
        required = [p for p in params if p.default is inspect.Parameter.empty]
        assert len(required) <= 1 + len(m.planner_args) <= len(params), m.key


def _sample(t: S.Type) -> object:
    """A valid value of a schema type, for a step that uses every key."""
    if isinstance(t, S.Str):
        return {S.UNIT: "a.service", S.DROPIN: "x.conf", S.ENCODING: "", S.CONDITION: "true"}.get(
            t.check, "/x"
        )
    if isinstance(t, S.Mode):
        return "0644"  # safe_dump writes an int in decimal, which the loader warns about
    if isinstance(t, S.Int):
        return 1
    if isinstance(t, S.Bool):
        return True
    if isinstance(t, S.ListOf):
        return [_sample(t.item)]
    if isinstance(t, S.MapOf):
        return {"k": _sample(t.value)}
    if isinstance(t, S.Obj):
        return {key: _sample(f.type) for key, f in t.fields.items()}
    return "x"


def test_a_step_using_every_key_of_the_table_builds_and_uses_each() -> None:
    step_doc = {m.key: _sample(m.field.type) for m in S.STEP_MODULES}
    text = yaml.safe_dump({"stages": {"boot": [step_doc]}})
    result = load_text(text, "every.yaml")
    assert result.config is not None, result.problems
    assert [p for p in result.problems if p.severity == "error"] == []
    # the unsupported modules are each named once, and nothing else is said
    assert sorted(p.path.rsplit(".", 1)[-1] for p in result.problems) == sorted(
        S.UNSUPPORTED_MODULES
    )
    (step,) = result.config.stages["boot"]
    for m in S.STEP_MODULES:
        assert m.key in step.modules, m.key
        if m.attr:
            assert getattr(step, m.attr), m.key
    assert used_modules(step) == list(MODULE_ORDER)


def test_a_step_made_in_code_uses_the_modules_whose_attributes_are_set() -> None:
    defaults = Step("boot", 0)
    for m in S.STEP_MODULES:
        if m.attr and m.build is not None:
            # a key left out keeps Step's default: the same as building nothing
            value = m.build(None)
            assert not value and value == getattr(defaults, m.attr), m.key
    assert used_modules(Step("boot", 0)) == []
    assert used_modules(Step("boot", 0, commands=("true",), dns=None)) == ["commands"]
    assert used_modules(Step("boot", 0, environment_file="/e")) == []
    assert used_modules(Step("boot", 0, modules={"layout": {}, "environment_file": "/e"})) == [
        "layout"
    ]


@pytest.mark.subprocess
def test_the_table_imports_no_planner_module() -> None:
    code = (
        "import sys, executor.schema, executor.modules, executor.load\n"
        "print(sorted(m for m in sys.modules if m.startswith('executor.modules.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.stdout.strip() == "[]"
