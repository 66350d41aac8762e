"""Unit names, the [Install] parser, specifiers, lookup and link planning.

No systemctl here (see test_units_differential/scenarios/generated for the
oracle): these pin down behaviour where we choose, and the details a
differential run may not reach.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.actions import CREATE, NONE, REMOVE, UPDATE
from executor.context import RunContext
from executor.errors import StepError
from executor.root import DryRunRoot, Root
from executor.units import Plan, names, plan_disable, plan_enable, plan_mask, plan_unmask
from executor.units.install import InstallSection, logical_lines, parse_install, split_words
from executor.units.lookup import UNIT_PATHS, Installer, UnitError
from executor.units.specifiers import Specifiers
from tests.conftest import make_tree
from tests.units_oracle import links, ours

U = "/usr/lib/systemd/system"
E = "/etc/systemd/system"
SVC = "[Service]\nExecStart=/bin/true\n"


def unit(*install: str) -> str:
    return SVC + "[Install]\n" + "\n".join(install) + "\n"


def ctx_for(root: Path, *, dry: bool = False) -> RunContext:
    return RunContext(root=(DryRunRoot if dry else Root)(str(root)), _live=False)


# -- names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("foo.service", names.PLAIN),
        ("foo@bar.service", names.INSTANCE),
        ("foo@.service", names.TEMPLATE),
        ("foo@a@b.socket", names.INSTANCE),
        ("a\\x2db:c_d.e-f.target", names.PLAIN),
        ("@foo.service", None),
        ("foo", None),
        ("foo.bogus", None),
        (".service", None),
        ("sp ace.service", None),
        ("x" * 250 + ".service", None),
    ],
)
def test_classify(name: str, kind: str | None) -> None:
    assert names.classify(name) == kind


@pytest.mark.parametrize(
    ("arg", "name"),
    [
        ("systemd-sysext", "systemd-sysext.service"),
        ("foo.timer", "foo.timer"),
        ("foo.bogus", "foo.bogus.service"),
        ("getty@tty1", "getty@tty1.service"),
        ("  k3s  ", "k3s.service"),
        ("bad name!", "bad\\x20name\\x21.service"),
        ("a/b", "a-b.service"),
    ],
)
def test_mangle_like_systemctl(arg: str, name: str) -> None:
    assert names.mangle(arg) == name


def test_mangle_refuses_empty() -> None:
    with pytest.raises(names.UnitNameError):
        names.mangle("  ")


def test_template_helpers() -> None:
    assert names.template_of("getty@tty1.service") == "getty@.service"
    assert names.with_instance("getty@.service", "tty5") == "getty@tty5.service"
    assert names.instance("a@b@c.service") == "b@c"
    assert names.prefix("a-b@c.service") == "a-b"


# -- the parser ----------------------------------------------------------------


def parse(text: str, unit_name: str = "u.service") -> tuple[InstallSection, list[str]]:
    section = InstallSection()
    also: list[str] = []
    parse_install(
        text, source="u", unit=unit_name, into=section, expand=lambda v: v, add_also=also.append
    )
    return section, also


def test_values_append_and_empty_assignment_resets() -> None:
    section, _ = parse(
        "[Install]\nWantedBy=a.target b.target\nWantedBy=c.target\n"
        "RequiredBy=r1.target\nRequiredBy=\nRequiredBy=r2.target\n"
    )
    assert section.wanted_by == ["a.target", "b.target", "c.target"]
    assert section.required_by == ["r2.target"]


def test_comments_continuations_and_sections() -> None:
    text = (
        "[Service]\nWantedBy=not-install.target\n[Install]\n# WantedBy=x.target\n"
        "  ; Alias=y.service\nWantedBy=a.target \\\n# dropped comment\n  b.target\n"
        "WantedBy=c.target # d.target\n[X-Mine]\nWantedBy=e.target\n[install]\n"
        "WantedBy=f.target\n"
    )
    section, _ = parse(text)
    assert section.wanted_by == ["a.target", "b.target", "c.target", "#", "d.target"]
    assert any("unknown section [install]" in w for w in section.warnings)
    assert not any("X-Mine" in w for w in section.warnings)


def test_logical_lines_number_the_last_physical_line() -> None:
    assert list(logical_lines("a=1 \\\nb\n\nc=2\\\\\n")) == [(2, "a=1  b"), (4, "c=2\\\\")]


def test_keys_are_case_sensitive_and_unknown_keys_warn() -> None:
    section, _ = parse("[Install]\nwantedby=a.target\nFoo=bar\n")
    assert section.wanted_by == []
    assert len(section.warnings) == 2


def test_upheld_by_is_read() -> None:
    section, _ = parse("[Install]\nUpheldBy=a.target\n")
    assert section.upheld_by == ["a.target"]


@pytest.mark.parametrize(
    ("value", "unquote", "words", "error"),
    [
        ("\"e.target\" 'f.target'", True, ["e.target", "f.target"], ""),
        ('"sp ace.target"', True, ["sp ace.target"], ""),
        ("a\\x2db.target c\\\\d", True, ["a\\x2db.target", "c\\\\d"], ""),
        ('"open.target', True, [], "unterminated quote"),
        ('"q.socket"', False, ['"q.socket"'], ""),
        ("a\\ b c", False, ["a b", "c"], ""),
        ("x\\", False, [], "trailing backslash"),
    ],
)
def test_split_words(value: str, unquote: bool, words: list[str], error: str) -> None:
    assert split_words(value, unquote=unquote) == (words, error)


def test_also_and_default_instance() -> None:
    section, also = parse(
        "[Install]\nAlso=x.service y.socket\nDefaultInstance=tty1\n", "getty@.service"
    )
    assert also == ["x.service", "y.socket"] and section.also == also
    assert section.default_instance == "tty1"
    section, _ = parse("[Install]\nDefaultInstance=tty1\n", "getty@tty5.service")
    assert section.default_instance is None  # an instance keeps its own instance


def test_alias_is_ignored_for_mount_units() -> None:
    section, _ = parse("[Install]\nAlias=x.mount\nWantedBy=a.target\n", "m.mount")
    assert section.aliases == [] and section.wanted_by == ["a.target"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab. \t\"'\\#;=\n[]", max_size=30), max_size=8))
def test_parser_never_crashes(lines: list[str]) -> None:
    try:
        parse("\n".join(lines))
    except Exception as exc:  # only InstallError may escape
        assert type(exc).__name__ == "InstallError"


# -- specifiers ----------------------------------------------------------------


def test_unit_specifiers(tmp_path: Path) -> None:
    spec = Specifiers(Root(str(tmp_path)))

    def expand(text: str, name: str, default: str | None = None) -> str:
        return spec.expand(text, name=name, default_instance=default)

    assert expand("%n|%N|%p|%i|%j", "a-b-c.service") == "a-b-c.service|a-b-c|a-b-c||c"
    assert expand("%n|%N|%i", "t-x@.service", "dflt") == "t-x@dflt.service|t-x@dflt|dflt"
    assert expand("%n|%N|%i|%j", "t-x@inst.service") == "t-x@inst.service|t-x@inst|inst|x"
    assert expand("100%%|end%", "a.service") == "100%|end%"


def test_root_specifiers_read_the_root(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "/etc/machine-id": "0123456789ABCDEF0123456789abcdef\n",
            "/usr/lib/os-release": 'ID=kairos\nVERSION_ID="3.1"\n',
        },
    )
    spec = Specifiers(Root(str(tmp_path)))
    out = spec.expand("%m-%o-%w", name="a.service", default_instance=None)
    assert out == "0123456789abcdef0123456789abcdef-kairos-3.1"
    with pytest.raises(Exception, match="VARIANT_ID"):
        spec.expand("%W", name="a.service", default_instance=None)
    with pytest.raises(Exception, match="invalid specifier"):
        spec.expand("%I", name="a.service", default_instance=None)
    with pytest.raises(Exception, match="running host"):
        spec.expand("%H", name="a.service", default_instance=None)


# -- lookup ----------------------------------------------------------------------


def test_not_found_says_where_it_looked(tmp_path: Path) -> None:
    installer = Installer(Root(str(tmp_path)))
    with pytest.raises(UnitError) as exc:
        installer.traverse(installer.add("nope@x.service", auxiliary=False), follow_config=False)
    message = str(exc.value)
    assert "nope@x.service or nope@.service" in message
    assert all(d in message for d in UNIT_PATHS)


def test_usr_lib_is_searched_before_lib(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            f"{U}/a.service": unit("WantedBy=x.target"),
            "/lib/systemd/system/a.service": unit("WantedBy=y.target"),
        },
    )
    installer = Installer(Root(str(tmp_path)))
    found = installer.traverse(installer.add("a.service", auxiliary=False), follow_config=False)
    assert found.path == f"{U}/a.service" and found.install.wanted_by == ["x.target"]


def test_absolute_links_in_the_root_are_followed_inside_it(tmp_path: Path) -> None:
    """With ROOT/usr/lib/systemd/system -> /units (absolute), systemctl --root opens
    the host's /units; the node sees ROOT/units, and so do we."""
    root = tmp_path / "root"
    make_tree(root, {"/units/x.service": unit("WantedBy=root.target"), "/usr/lib/systemd": None})
    (root / "usr/lib/systemd/system").symlink_to("/units")
    assert ours(root, "enable", "x.service").ok
    assert links(root) == {f"{E}/root.target.wants/x.service": f"{U}/x.service"}


# -- planning ------------------------------------------------------------------


def test_plan_reports_links_and_their_directories(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{U}/a.service": unit("WantedBy=x.target y.target")})
    plan = Plan(ctx_for(tmp_path))
    assert plan_enable(plan, ["a"]) == []
    kinds = [(a.kind, a.path, a.change, a.target) for a in plan.actions]
    assert ("symlink", f"{E}/x.target.wants/a.service", CREATE, f"{U}/a.service") in kinds
    assert ("directory", E, CREATE, "") in kinds
    assert [k for k in kinds if k[1] == E] == [("directory", E, CREATE, "")]  # made once
    assert not (tmp_path / "etc").exists()  # planning writes nothing


def test_second_enable_is_unchanged(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{U}/a.service": unit("WantedBy=x.target", "Alias=b.service")})
    assert ours(tmp_path, "enable", "a").ok
    plan = Plan(ctx_for(tmp_path))
    plan_enable(plan, ["a"])
    assert {a.change for a in plan.actions} == {NONE}


def test_dry_run_plan_equals_real_plan(tmp_path: Path) -> None:
    tree = {
        f"{U}/a.service": unit("WantedBy=x.target", "Also=b.service"),
        f"{U}/b.service": unit("RequiredBy=y.target"),
    }
    make_tree(tmp_path / "dry", tree)
    make_tree(tmp_path / "real", tree)
    dry, real = Plan(ctx_for(tmp_path / "dry", dry=True)), Plan(ctx_for(tmp_path / "real"))
    plan_enable(dry, ["a"])
    plan_enable(real, ["a"])
    assert [a.as_json() for a in dry.actions] == [a.as_json() for a in real.actions]


def test_enable_then_disable_in_one_step_sees_the_new_links(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{U}/a.service": unit("WantedBy=x.target")})
    plan = Plan(ctx_for(tmp_path))
    plan_enable(plan, ["a"])
    plan_disable(plan, ["a"])
    changes = [(a.kind, a.change) for a in plan.actions]
    assert ("remove", REMOVE) in changes and ("directory", REMOVE) in changes


def test_wants_link_to_another_file_is_replaced(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{U}/a.service": unit("WantedBy=x.target"), f"{E}/x.target.wants": None})
    os.symlink("/elsewhere/a.service", tmp_path / "etc/systemd/system/x.target.wants/a.service")
    plan = Plan(ctx_for(tmp_path))
    plan_enable(plan, ["a"])
    (action,) = plan.actions
    assert (action.change, action.target) == (UPDATE, f"{U}/a.service")


def test_upheld_by_makes_upholds_links(tmp_path: Path) -> None:
    """systemd 254 reads UpheldBy=; Debian 12's 252 ignores it (documented difference)."""
    make_tree(tmp_path, {f"{U}/a.service": unit("UpheldBy=x.target")})
    assert ours(tmp_path, "enable", "a").ok
    assert links(tmp_path) == {f"{E}/x.target.upholds/a.service": f"{U}/a.service"}


def test_any_install_error_fails_the_step_and_plans_nothing(tmp_path: Path) -> None:
    """systemctl would make a.target.wants and exit 0 (the error is in a later list);
    we refuse the step so that a half-applied enable cannot happen."""
    make_tree(tmp_path, {f"{U}/a.service": unit("WantedBy=a.target", "RequiredBy=#")})
    plan = Plan(ctx_for(tmp_path))
    with pytest.raises(StepError, match="'#' is not a valid unit name"):
        plan_enable(plan, ["a"])


def test_errors_name_the_unit_and_the_problem(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            f"{U}/t@.service": unit("WantedBy=multi-user.target"),
            f"{E}/local.service": unit("WantedBy=x.target"),
        },
    )
    with pytest.raises(StepError, match=r"t@\.service.*non-template.*DefaultInstance"):
        plan_enable(Plan(ctx_for(tmp_path)), ["t@.service"])
    with pytest.raises(StepError, match=r"local\.service.*already exists"):
        plan_mask(Plan(ctx_for(tmp_path)), ["local.service"])
    with pytest.raises(StepError, match="does not exist"):
        plan_enable(Plan(ctx_for(tmp_path)), ["missing"])


def test_disable_of_a_missing_unit_is_a_note(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{E}/x.target.wants": None})
    os.symlink("/nowhere/gone.service", tmp_path / "etc/systemd/system/x.target.wants/gone.service")
    plan = Plan(ctx_for(tmp_path))
    notes = plan_disable(plan, ["gone"])
    assert any("does not exist" in n.text for n in notes)
    assert [(a.kind, a.path) for a in plan.actions] == [
        ("remove", f"{E}/x.target.wants/gone.service"),
        ("directory", f"{E}/x.target.wants"),
    ]


def test_disable_removes_links_through_alias_links_whatever_the_order(tmp_path: Path) -> None:
    """systemctl --root removes X.wants/bar.service -> /etc/.../bar.service (bar being
    foo's alias link) only if readdir happens to visit it before bar.service; we judge
    every link on the tree as it was, so all of them go."""
    make_tree(tmp_path, {f"{U}/foo.service": unit("WantedBy=m.target", "Alias=bar.service")})
    assert ours(tmp_path, "enable", "foo").ok
    for letter in "adkz":
        wants = tmp_path / f"etc/systemd/system/{letter}.target.wants"
        wants.mkdir()
        os.symlink(f"{E}/bar.service", wants / "bar.service")
    assert ours(tmp_path, "disable", "foo").ok
    assert links(tmp_path) == {}


def test_unmask_treats_any_link_to_dev_null_as_a_mask(tmp_path: Path) -> None:
    make_tree(tmp_path, {E: None})
    os.symlink("../../../dev/null", tmp_path / "etc/systemd/system/rel.service")
    os.symlink("/dev/null", tmp_path / "etc/systemd/system/abs.service")
    plan = Plan(ctx_for(tmp_path))
    plan_unmask(plan, ["rel", "abs"])
    assert sorted(a.path for a in plan.actions) == [f"{E}/abs.service", f"{E}/rel.service"]


def test_mask_then_unmask_round_trip(tmp_path: Path) -> None:
    make_tree(tmp_path, {E: None})
    assert ours(tmp_path, "mask", "foo").ok
    assert links(tmp_path) == {f"{E}/foo.service": "/dev/null"}
    assert ours(tmp_path, "mask", "foo").ok  # already masked: unchanged
    assert ours(tmp_path, "unmask", "foo").ok
    assert links(tmp_path) == {}
