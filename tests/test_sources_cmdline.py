"""The kernel command line as a source (SPEC §3): cos.setup=,
kairos.config_url=, and dot-notation stages.NAME[i].KEY=VALUE tokens."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from executor.cli import main
from executor.cmdline import BadKey, parse_cmdline, parse_key, tokenize
from executor.load import load_node
from executor.sources import CMDLINE_PATH
from tests.conftest import make_tree


def document(text: str) -> Any:
    node = parse_cmdline(text, source=CMDLINE_PATH).document
    return None if node is None else yaml.safe_load(yaml.serialize(node))


def kept_report(root: Path, stage: str) -> Any:
    return json.loads((root / "run/stage-executor" / f"{stage}.json").read_text())


# -- parsing ----------------------------------------------------------------------------


def test_yip_cases() -> None:
    # yip schema_test.go: junk around a valid token, and a cmdline without any
    assert document("stages.foo[0].name=bar boo.baz") == {"stages": {"foo": [{"name": "bar"}]}}
    parsed = parse_cmdline(
        'ip=dhcp test="echo ping_test_host=127.0.0.1  > /tmp/jojo"', source=CMDLINE_PATH
    )
    assert parsed.document is None and parsed.sources == [] and parsed.problems == []


def test_a_real_looking_cmdline() -> None:
    text = (
        "BOOT_IMAGE=/cOS/vmlinuz console=tty1 root=LABEL=COS_STATE rd.neednet=1 "
        "cos.setup=http://10.0.0.1/setup.yaml kairos.config_url=/oem/extra.yaml "
        '"stages.initramfs[0].commands[0]=echo hello > /run/hello" '
        "stages.initramfs[0].name=hello stages.initramfs.after[0].files[0].path=/etc/x "
        "stages.initramfs.after[0].files[0].permissions=0600 "
        "stages.initramfs.after[0].files[0].owner=0 "
        "stages.initramfs.after[0].files[0].content=true "
        "'stages.boot[0].sysctl.\"net.ipv4.ip_forward\"=1' quiet"
    )
    parsed = parse_cmdline(text, source=CMDLINE_PATH)
    assert [(s.key, s.uri) for s in parsed.sources] == [
        ("cos.setup", "http://10.0.0.1/setup.yaml"),
        ("kairos.config_url", "/oem/extra.yaml"),
    ]
    assert text[parsed.sources[0].column - 1 :].startswith("http://10.0.0.1")
    assert parsed.problems == []
    assert document(text) == {
        "stages": {
            "initramfs": [{"commands": ["echo hello > /run/hello"], "name": "hello"}],
            "initramfs.after": [
                {
                    "files": [
                        {"path": "/etc/x", "permissions": 0o600, "owner": 0, "content": True},
                    ]
                }
            ],
            "boot": [{"sysctl": {"net.ipv4.ip_forward": 1}}],
        }
    }


def test_the_loaded_document_keeps_strings_as_written() -> None:
    parsed = parse_cmdline(
        "stages.boot[0].files[0].path=/etc/x stages.boot[0].files[0].content=0644 "
        "stages.boot[0].commands[0]=true",
        source=CMDLINE_PATH,
    )
    assert parsed.document is not None
    result = load_node(parsed.document, "/proc/cmdline", path="/proc/cmdline")
    assert result.ok, result.problems
    assert result.config is not None
    step = result.config.stages["boot"][0]
    assert step.files[0].content == "0644"
    assert step.commands == ("true",)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("a=1 stages.boot=x", 5, "no [INDEX] after the stage name"),
        ("stages.boot[x].name=y", 1, "expected [INDEX]"),
        ("stages.boot[0]..name=y", 1, "empty name"),
        ("stages.boot[0].name=a stages.boot[0].name.x=b", 23, "another shape"),
        ("stages.boot[1].name=b", 1, "stages.boot[0] is not given"),
        ("cos.setup", 1, "cos.setup= names no source"),
    ],
)
def test_tokens_that_do_not_fit_are_warnings_at_their_column(
    text: str, column: int, fragment: str
) -> None:
    problems = parse_cmdline(text, source=CMDLINE_PATH).problems
    assert [(p.severity, p.line, p.column) for p in problems] == [("warning", 1, column)]
    assert fragment in problems[0].message


def test_gaps_in_indexes_keep_index_order() -> None:
    assert document("stages.b[0].commands[3]=c stages.b[0].commands[1]=a") == {
        "stages": {"b": [{"commands": ["a", "c"]}]}
    }


def test_a_later_token_wins() -> None:
    assert document("stages.b[0].name=one stages.b[0].name=two") == {
        "stages": {"b": [{"name": "two"}]}
    }


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("stages.boot[0].name", ["stages", "boot", 0, "name"]),
        ('stages."initramfs.after"[2]', ["stages", "initramfs.after", 2]),
        ("a[0][1].b", ["a", 0, 1, "b"]),
    ],
)
def test_parse_key(key: str, parts: list[object]) -> None:
    assert parse_key(key) == parts


@pytest.mark.parametrize("key", ["a.", ".a", "a..b", "a[", "a[]", 'a."b', "a[0]b"])
def test_parse_key_refuses(key: str) -> None:
    with pytest.raises(BadKey):
        parse_key(key)


WORD_CHARS = st.sampled_from(list("ab=.[]0 \t\"'\\"))


@settings(max_examples=300, deadline=None)
@given(st.lists(WORD_CHARS, max_size=30).map("".join))
def test_tokenize_splits_as_posix_shlex_does(text: str) -> None:
    try:
        expected = shlex.split(text)
    except ValueError:  # unterminated quote or trailing backslash: shlex refuses
        assume(False)
        return
    got = [t.key + ("=" + t.value if t.has_value else "") for t in tokenize(text)]
    assert got == [w for w in expected if w]


# -- runs --------------------------------------------------------------------------------


def test_cmdline_steps_run_after_the_default_dirs_and_are_named_by_it(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "/oem/a.yaml": "name: oem\nstages:\n  boot:\n  - files: [{path: /etc/a, content: a}]\n",
            "/proc/cmdline": (
                "quiet stages.boot[0].files[0].path=/etc/from-cmdline "
                "stages.boot[0].files[0].content=c\n"
            ),
        },
    )
    assert main(["run-stage", "boot", "--root", str(root)]) == 0
    assert (root / "etc/from-cmdline").read_text() == "c"
    steps = kept_report(root, "boot")["steps"]
    assert [(s["full_name"], s["source"]) for s in steps] == [
        ("oem.0", "/oem/a.yaml"),
        ("/proc/cmdline.0", "/proc/cmdline"),
    ]


def test_no_cmdline_and_the_cmdline_what_if(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(
        tmp_path,
        {
            "/proc/cmdline": "stages.boot[0].files[0].path=/etc/real\n",
        },
    )
    assert main(["run-stage", "boot", "--root", str(root), "--no-cmdline"]) == 0
    assert not (root / "etc").exists()
    # --cmdline is a what-if for conditions only (SPEC §4): the sources still
    # come from the root's /proc/cmdline
    # (and a dry-run's only: a real run refuses it, see test_cli_usage.py)
    what_if = "stages.boot[0].files[0].path=/etc/what-if"
    args = ["run-stage", "boot", "--root", str(root), "--dry-run", "--json"]
    capsys.readouterr()
    assert main([*args, "--cmdline", what_if]) == 0
    planned = json.loads(capsys.readouterr().out)["steps"][0]["actions"]
    assert [a["path"] for a in planned] == ["/etc", "/etc/real"]
    assert main(["run-stage", "boot", "--root", str(root), "--cmdline", what_if]) == 2


def test_cos_setup_names_a_file_in_the_root(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "/srv/setup.yaml": (
                "name: setup\nstages:\n  boot:\n  - files: [{path: /etc/s, content: s}]\n"
            ),
            "/oem/a.yaml": "name: oem\nstages:\n  boot:\n  - files: [{path: /etc/a, content: a}]\n",
            "/proc/cmdline": "cos.setup=/srv/setup.yaml\n",
        },
    )
    assert main(["run-stage", "boot", "--root", str(root)]) == 0
    steps = kept_report(root, "boot")["steps"]
    assert [(s["full_name"], s["source"]) for s in steps] == [
        ("oem.0", "/oem/a.yaml"),
        ("setup.0", "/srv/setup.yaml"),
    ]


def test_a_bad_value_on_the_cmdline_is_reported_at_its_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "console=tty1 stages.boot[0].files[0].path=/etc/x stages.boot[0].files[0].owner=abc"
    root = make_tree(tmp_path, {"/proc/cmdline": text + "\n"})
    assert main(["run-stage", "boot", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    column = text.index("abc") + 1
    assert f"/proc/cmdline:1:{column}: error: expected an integer" in out
    assert "(stages.boot[0].files[0].owner)" in out
    assert not (root / "etc/x").exists()


def test_a_relative_cos_setup_is_an_error_at_its_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path, {"/proc/cmdline": "quiet cos.setup=setup.yaml\n"})
    assert main(["run-stage", "boot", "--root", str(root)]) == 1
    assert "/proc/cmdline:1:17: error: cos.setup=setup.yaml: expected an http(s) URL" in (
        capsys.readouterr().out
    )
