"""YAML errors keep both of PyYAML's marks; hints for the common mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.cli import main


def _validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    src = tmp_path / "c.yaml"
    src.write_text(text)
    (tmp_path / "root").mkdir(exist_ok=True)
    code = main(["validate", str(src), "--root", str(tmp_path / "root"), "--no-cmdline"])
    return code, capsys.readouterr().out.replace(str(src), "c.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an unclosed flow list: where it starts is the useful part, and the
        # position is the end of the last line, not a line past the end
        (
            "stages:\n  boot:\n    - files: [\n        {path: /x}\n\n",
            "c.yaml:4:19: error: YAML syntax: did not find expected ',' or ']' before the end of"
            " the file (while parsing a flow sequence that starts at line 3, column 14)",
        ),
        # in the middle of the file: the problem where it is, the context too
        (
            "stages:\n  boot:\n    - files: [{path: /x}\n    - commands: [a]\n",
            "c.yaml:4:5: error: YAML syntax: did not find expected ',' or ']' (while parsing a"
            " flow sequence that starts at line 3, column 14)",
        ),
        (
            'name: "x\n',
            "c.yaml:1:9: error: YAML syntax: found unexpected end of the file (while scanning a"
            " quoted scalar that starts at line 1, column 7)",
        ),
    ],
)
def test_yaml_syntax_errors_keep_both_marks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    code, out = _validate(tmp_path, text, capsys)
    assert code == 1
    assert out.splitlines()[0] == expected
    line = int(expected.split(":")[1])
    assert line <= len(text.splitlines())


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "- if: [ -e /x ]\n    files: [{path: /a}]",
            "c.yaml:3:9: error: expected a string, got a list; unquoted, `[ -e /x ]` is a YAML"
            " list: quote it, if: '[ -e /x ]' (stages.boot[0].if)",
        ),
        (
            "- files: [{path: /a, owner: kairos}]",
            "c.yaml:3:31: error: expected an integer, got a string 'kairos'; for a name use"
            " owner_string: kairos (resolved in the root's /etc/passwd and /etc/group)"
            " (stages.boot[0].files[0].owner)",
        ),
        (
            "- files: [{path: /a, group: wheel}]",
            "c.yaml:3:31: error: expected an integer, got a string 'wheel'; for a name use"
            " owner_string: USER:wheel",
        ),
        (
            "- if: 0\n    files: [{path: /a}]",
            "c.yaml:3:9: warning: `if: 0` is a number, run as the command `0`, which does not"
            " exist: the step never runs; write true, false or a quoted shell condition",
        ),
    ],
)
def test_hints_for_common_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, expected: str
) -> None:
    _, out = _validate(tmp_path, f"stages:\n  boot:\n  {step}\n", capsys)
    assert out.splitlines()[0].startswith(expected)


def test_if_true_and_a_quoted_condition_get_no_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _validate(
        tmp_path, "stages:\n  boot:\n  - if: true\n  - if: '[ -e /x ]'\n  - if: \"1\"\n", capsys
    )
    assert (code, out) == (0, "validate: 0 errors, 0 warnings in 1 document\n")
