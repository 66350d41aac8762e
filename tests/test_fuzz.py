"""Fuzzing the parts that read untrusted input.

- The loader/validator takes any text and any bytes (decoded as sources do)
  and never raises: it returns problems. Structures shaped like configs
  (stages, steps, files, modes, owners, conditions, aliases) go through it and
  then through a whole dry-run on a temp-dir root, which raises nothing.
- The condition parser raises only its own NotNative / ShellSyntaxError, and
  the evaluator, on a real temp-dir root, only those and RootError.

CI runs a bounded number of examples per test. For a long run set
SE_FUZZ_EXAMPLES, e.g. `SE_FUZZ_EXAMPLES=20000 python3 -m pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from executor.conditions import RootCondFS
from executor.conditions.native import evaluate
from executor.conditions.shell import NotNative, ShellSyntaxError, parse
from executor.context import RunContext
from executor.engine import Report, load_groups, run_stages
from executor.errors import Problem, RootError
from executor.load import load_text
from executor.root import DryRunRoot, Root
from executor.sources import Document, SourceGroup, decode_source
from tests.conftest import make_tree

EXAMPLES = int(os.environ.get("SE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
STAGES = ("boot", "initramfs", "initramfs.after", "network", "fs")


def check_loaded(text: str) -> None:
    result = load_text(text, "fuzz.yaml")  # must not raise, whatever the text
    assert all(isinstance(p, Problem) for p in result.problems)
    assert all(p.severity in ("error", "warning") for p in result.problems)
    if result.config is None:
        assert any(p.severity == "error" for p in result.problems)


# -- the loader on arbitrary input ------------------------------------------------------


@FUZZ
@given(st.text())
def test_loader_never_raises_on_any_text(text: str) -> None:
    check_loaded(text)


@FUZZ
@given(st.binary())
def test_loader_never_raises_on_any_bytes(data: bytes) -> None:
    group = SourceGroup("fuzz")
    text = decode_source(group, "/fuzz.yaml", data)
    if text is None:  # not text: an error with its position, never a traceback
        (problem,) = group.problems
        assert problem.severity == "error" and problem.line >= 1 and problem.column >= 1
        return
    check_loaded(text)


YAML_PIECES = st.sampled_from(
    [
        "stages:",
        "boot:",
        "- ",
        "  ",
        "    ",
        "\n",
        "name: x",
        "files:",
        "path: /etc/x",
        "permissions: ",
        "0644",
        "0o777",
        "99999",
        "-1",
        "owner: ",
        "content: |",
        "encoding: gz+b64",
        "&a ",
        "*a",
        "<<: ",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "? ",
        "!!binary ",
        "!!str ",
        "!!python/name:os.system",
        "'",
        '"',
        "#",
        "---",
        "...",
        "%YAML 1.1",
        "\t",
        "\\",
        "\x00",
        "\ufeff",
        "if: ",
        "after:",
        "systemctl:",
        "enable: [a]",
        "directories:",
        "commands:",
        "~",
        "null",
        "yes",
        ".inf",
    ]
)


@FUZZ
@given(st.lists(YAML_PIECES, max_size=40))
def test_loader_never_raises_on_yaml_fragments(pieces: list[str]) -> None:
    check_loaded("".join(pieces))


# -- config-shaped structures --------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "0644",
            "644",
            "0o600",
            "07777",
            "9999",
            "root",
            "root:root",
            "/etc/x",
            "/../../x",
            "a\x00b",
            "",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
paths = st.one_of(
    st.sampled_from(
        [
            "/etc/x",
            "/etc/../x",
            "/../../etc/passwd",
            "/run/cos/x",
            "/",
            "",
            "relative",
            "/etc/x/",
            "/dev/null",
            "/proc/cmdline",
            "//a//b",
        ]
    ),
    st.text(alphabet="/.ab\x00-_ ", max_size=20),
)
modes = st.one_of(st.integers(0, 0o7777), st.sampled_from(["0644", "0600", "0o750", "4755"]))
bad_modes = st.one_of(st.integers(-10, 70000), st.sampled_from(["755", "x", "", "0o99"]), values)


def file_spec(garbage: bool) -> st.SearchStrategy[dict[str, object]]:
    text = st.one_of(st.text(max_size=50), values) if garbage else st.text(max_size=50)
    return st.fixed_dictionaries(
        {"path": paths},
        optional={
            "content": text,
            "encoding": st.sampled_from(["", "b64", "base64", "gz", "gzip", "gz+b64", "bogus"])
            if garbage
            else st.just(""),
            "permissions": bad_modes if garbage else modes,
            "owner": st.integers(-5, 2**33) if garbage else st.integers(0, 70000),
            "group": st.integers(-5, 2**33) if garbage else st.integers(0, 70000),
            "owner_string": st.sampled_from(
                ["root", "root:root", "nobody:", ":x", "4242", "a:b:c"]
            ),
        },
    )


def dir_spec(garbage: bool) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {"path": paths},
        optional={
            "permissions": bad_modes if garbage else modes,
            "owner": st.integers(-5, 2**33) if garbage else st.integers(0, 70000),
        },
    )


conditions = st.sampled_from(
    [
        "[ -e /run/cos/x ]",
        "[ ! -f /etc/os-release ]",
        "test -d /",
        "true && false || true",
        "[ -e",
        "( [ -e /x ] )",
        "grep -q x /etc/x",
        "echo $HOME",
        "[ 1 -eq x ]",
        "! ! true",
        "[ -e /../../../x ]",
        "[ \"a\" = 'a' ]",
        "[ -e /up/etc ]",
        "[ -d /loop ]",
    ]
)
entity_text = st.one_of(
    st.builds(
        lambda kind, name, uid: f"kind: {kind}\nname: {name}\nuid: {uid}\n",
        st.sampled_from(["user", "group", "shadow", "gshadow", "bogus"]),
        st.sampled_from(["x", "root", "a:b", "''", "[1]"]),
        st.sampled_from(["1", "-1", "x", "9" * 12]),
    ),
    st.lists(YAML_PIECES, max_size=15).map("".join),
)
units = st.sampled_from(["a", "b@.service", "b@x.service", "c.timer", "d.socket", "a.service"])


def step(garbage: bool) -> st.SearchStrategy[dict[str, object]]:
    def maybe(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
        return st.one_of(good, values) if garbage else good

    return st.fixed_dictionaries(
        {},
        optional={
            "name": maybe(st.text(max_size=10)),
            "if": maybe(conditions),
            "if_files": st.fixed_dictionaries(
                {},
                optional={"any": st.lists(paths, max_size=3), "none": st.lists(paths, max_size=3)},
            ),
            "files": maybe(st.lists(file_spec(garbage), max_size=3)),
            "directories": maybe(st.lists(dir_spec(garbage), max_size=3)),
            "only_os": st.sampled_from(["kairos", "(", ".*", ""] if garbage else ["kairos", ".*"]),
            "node": st.sampled_from(["x", "[", ""] if garbage else ["x", ".*"]),
            # an unknown `after` target drops the whole document: rare unless garbage
            "after": st.lists(
                st.fixed_dictionaries({"name": st.text(max_size=10)}), max_size=2 if garbage else 0
            ),
            "systemctl": st.fixed_dictionaries(
                {},
                optional={
                    "enable": st.lists(units, max_size=2),
                    "disable": st.lists(units, max_size=2),
                    "mask": st.lists(units, max_size=2),
                    "overrides": st.lists(
                        st.fixed_dictionaries(
                            {"service": st.sampled_from(["a", "b.service"])},
                            optional={"name": st.text(max_size=5), "content": st.text(max_size=20)},
                        ),
                        max_size=2,
                    ),
                },
            ),
            "environment": st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3),
            "environment_file": paths,
            "hostname": st.sampled_from(["node", "a\nb", "{{ .Random }}", "{{ trunc 3 }}", ""]),
            "sysctl": st.dictionaries(
                st.sampled_from(["net.ipv4.ip_forward", "../x", "a/b", ""]),
                st.text(max_size=8),
                max_size=2,
            ),
            "dns": st.fixed_dictionaries(
                {},
                optional={"nameservers": st.lists(st.text(max_size=15), max_size=2), "path": paths},
            ),
            "modules": st.lists(st.sampled_from(["br_netfilter", "../x", ""]), max_size=2),
            "users": st.dictionaries(
                st.sampled_from(["kairos", "root", "a:b", "", "../x"]),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "uid": st.sampled_from(["1000", "x", "-1", "99999999999"]),
                        "groups": st.lists(st.text(max_size=6), max_size=2),
                        "homedir": paths,
                        "shell": st.text(max_size=10),
                    },
                ),
                max_size=2,
            ),
            "ensure_entities": st.lists(
                st.fixed_dictionaries({"entity": entity_text}, optional={"path": paths}), max_size=2
            ),
            "delete_entities": st.lists(st.fixed_dictionaries({"entity": entity_text}), max_size=1),
            "unknwon": values,
        },
    )


def configs(garbage: bool) -> st.SearchStrategy[dict[str, object]]:
    stages = st.dictionaries(
        st.sampled_from(STAGES),
        st.lists(step(garbage), min_size=1, max_size=3),
        min_size=1,
        max_size=2,
    )
    if garbage:
        return st.fixed_dictionaries(
            {},
            optional={
                "name": st.one_of(st.text(max_size=10), values),
                "stages": st.one_of(stages, values),
            },
        )
    return st.fixed_dictionaries({"stages": stages}, optional={"name": st.text(max_size=10)})


def render(doc: object, share: bool) -> str:
    """YAML of `doc`; with `share`, repeated sub-objects become anchors and aliases."""
    if share and isinstance(doc, dict) and doc.get("stages") and isinstance(doc["stages"], dict):
        for steps in doc["stages"].values():
            if isinstance(steps, list) and steps:
                steps.append(steps[0])  # the same object twice: &id001 / *id001
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzzroot")
    make_tree(
        root,
        {
            "/etc/os-release": "ID=kairos\n",
            "/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
            "/etc/group": "root:x:0:\n",
            "/usr/lib/systemd/system/a.service": (
                "[Install]\nWantedBy=multi-user.target\nAlso=a.service\n"
            ),
            "/usr/bin/systemctl": "",
            "/run/cos": None,
        },
    )
    os.symlink("../../..", root / "up")
    os.symlink("/loop", root / "loop")
    return root


@FUZZ
@given(configs(garbage=True), st.booleans())
def test_config_shaped_documents_with_wrong_types_load_without_raising(
    doc: object, share: bool
) -> None:
    check_loaded(render(doc, share))


@FUZZ
@given(configs(garbage=False), st.booleans())
def test_well_typed_configs_load_and_dry_run_without_raising(
    fuzz_root: Path, doc: object, share: bool
) -> None:
    text = render(doc, share)
    check_loaded(text)
    group = SourceGroup("fuzz", [Document("fuzz.yaml", text, "/fuzz.yaml")])
    groups, _ = load_groups([group])
    root = DryRunRoot(os.fspath(fuzz_root))
    report = Report("apply", "boot", root.path, True)
    run_stages(RunContext(root=root), report, list(STAGES), groups)  # must not raise
    for step_report in report.steps:  # shown by --hypothesis-show-statistics
        event(f"step {step_report.status}")
    assert os.listdir(fuzz_root / "run/cos") == []  # and wrote nothing


# -- the condition parser and evaluator --------------------------------------------------

SHELL_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "test",
        "-e",
        "-f",
        "-d",
        "-L",
        "-h",
        "-r",
        "-w",
        "-x",
        "-s",
        "-n",
        "-z",
        "!",
        "=",
        "!=",
        "-eq",
        "-lt",
        "-ge",
        "&&",
        "||",
        "|",
        ";",
        "(",
        ")",
        "\n",
        "\\\n",
        " ",
        "  ",
        "'",
        '"',
        "\\",
        "/run/cos/x",
        "/etc/os-release",
        "/../../etc",
        "/up/x",
        "/loop",
        "/etc/passwd",
        "grep",
        "-q",
        "-v",
        "-i",
        "-E",
        "-F",
        "-x",
        "cat",
        "true",
        "false",
        ":",
        "2>/dev/null",
        ">/dev/null",
        "2>&1",
        "$x",
        "`id`",
        "*",
        "?",
        "#",
        "x=1",
        "if",
        "then",
        "fi",
        "{",
        "}",
        "&",
        "<",
        ">",
        "1",
        "-1",
        "a b",
        "\t",
        "\x00",
        "é",
    ]
)


def check_condition(text: str, fs: RootCondFS) -> None:
    try:
        node = parse(text)
    except (NotNative, ShellSyntaxError):
        return
    try:
        status = evaluate(node, fs)
    except (NotNative, RootError):
        return
    assert isinstance(status, int) and 0 <= status <= 255


@pytest.fixture(scope="module")
def cond_fs(fuzz_root: Path) -> RootCondFS:
    return RootCondFS(Root(os.fspath(fuzz_root)), markers=("x",), cmdline="quiet")


@FUZZ
@given(st.lists(SHELL_PIECES, max_size=25).map(" ".join))
def test_condition_parser_and_evaluator_raise_only_their_own_errors(
    cond_fs: RootCondFS, text: str
) -> None:
    check_condition(text, cond_fs)


@FUZZ
@given(st.text(max_size=80))
def test_condition_parser_on_any_text(cond_fs: RootCondFS, text: str) -> None:
    check_condition(text, cond_fs)
