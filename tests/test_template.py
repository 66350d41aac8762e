"""The Go-template subset: what Kairos configs use renders as Go + sprig do;
anything else is an error naming the construct and where it is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.template import TemplateError, go_quote, parse, render, syntax_error

DATA = {
    "MachineID": "3f2a9c0d1e",
    "Empty": "",
    "Values": {"node": {"hostname": "Node-1"}, "os": {"name": "Ubuntu 24.04"}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kairos-{{ trunc 4 .MachineID }}", "kairos-3f2a"),
        ("{{ .MachineID | trunc 4 }}", "3f2a"),
        ("{{ trunc 40 .MachineID }}", "3f2a9c0d1e"),
        ("{{ trunc -3 .MachineID }}", "d1e"),
        ("{{ trunc -30 .MachineID }}", "3f2a9c0d1e"),
        ("{{ trunc 0 .MachineID }}", ""),
        ("{{ .Values.node.hostname }}", "Node-1"),
        ("{{ .Values.node.hostname | lower }}", "node-1"),
        ("{{ upper .Values.node.hostname }}", "NODE-1"),
        ('{{ replace "-" "_" .Values.node.hostname }}', "Node_1"),
        ('{{ .Values.node.hostname | replace "Node" "host" }}', "host-1"),
        ('{{ default "fallback" .Values.node.missing }}', "fallback"),
        ('{{ .Values.node.missing | default "fallback" }}', "fallback"),
        ('{{ .Empty | default "fallback" }}', "fallback"),
        ('{{ .MachineID | default "fallback" }}', "3f2a9c0d1e"),
        ('{{ trim "  padded \\t" }}', "padded"),
        ("{{ quote .Values.os.name }}", '"Ubuntu 24.04"'),
        ('{{ quote "a\\"b\\n" }}', '"a\\"b\\n"'),
        ("{{ .MachineID | trunc 4 | upper | quote }}", '"3F2A"'),
        ("{{ (trunc 2 .MachineID) | upper }}", "3F"),
        ("{{ upper (trunc 2 .MachineID) }}", "3F"),
        ("{{ `raw {{ text` }}", "raw {{ text"),
        ("{{ 42 }} {{ true }} {{ 0x10 }} {{ -7 }}", "42 true 16 -7"),
        ("a  {{- .Empty -}}  b", "ab"),
        ("a  {{- /* a comment */ -}}  b", "ab"),
        ("{{/* only a comment */}}", ""),
        ("no actions at all: { } }}", "no actions at all: { } }}"),
        ("x{{.MachineID}}y", "x3f2a9c0d1ey"),
        ("multi\nline {{ .MachineID\n | trunc 2 }}", "multi\nline 3f"),
    ],
)
def test_supported_constructs_render_as_go_does(text: str, expected: str) -> None:
    assert render(text, DATA) == expected


@pytest.mark.parametrize(
    ("text", "construct", "line", "column"),
    [
        ("{{ if .X }}y{{ end }}", "`if` actions are not supported", 1, 4),
        ("{{ range .Values }}{{ end }}", "`range` actions are not supported", 1, 4),
        ('{{ printf "%s" .MachineID }}', "function 'printf' is not supported", 1, 4),
        ("{{ $x := .MachineID }}", "variable $x is not supported", 1, 4),
        ("{{ .X ", "unclosed action", 1, 1),
        ("{{ .X }", "unexpected '}' in action", 1, 7),
        ("{{ }}", "missing value for command", 1, 1),
        ("ok\n  {{ .A .B }}", "can't give argument to non-function .A", 2, 9),
        ("{{ 1.5 }}", "number 1.5 is not supported", 1, 4),
        ("{{ 'c' }}", "character constants are not supported", 1, 4),
        ('{{ "unterminated }}', "unterminated quoted string", 1, 4),
        ('{{ "bad \\q" }}', "unknown escape sequence", 1, 9),
        ("{{ trunc 4 (lower .X }}", "unclosed parenthesis", 1, 12),
        ("{{ .X | }}", "missing command after |", 1, 7),
        ("{{ nil }}", "nil is not a command", 1, 4),
    ],
)
def test_unsupported_or_malformed_templates_fail_at_parse(
    text: str, construct: str, line: int, column: int
) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(text)
    assert construct in str(caught.value)
    assert (caught.value.line, caught.value.column) == (line, column)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .Values.node.missing }}", ".Values.node.missing has no value"),
        ("{{ .Nope.deeper }}", ".Nope has no value, so .Nope.deeper cannot be read"),
        ("{{ .MachineID.field }}", "can't evaluate field field in string .MachineID"),
        ("{{ .Values }}", "map cannot be printed"),
        ('{{ trunc "4" .MachineID }}', "trunc expects an integer as argument 1, got string"),
        ("{{ upper 3 }}", "upper expects a string as argument 1, got int"),
        ("{{ lower }}", "wrong number of args for lower: want 1 got 0"),
        ("{{ replace 1 }}", "wrong number of args for replace: want 3 got 1"),
        ("{{ .Values.node.missing | upper }}", "upper expects a string as argument 1, got nothing"),
        ('{{ "s" | .MachineID }}', "can't give argument to non-function .MachineID"),
    ],
)
def test_evaluation_errors_are_errors_not_garbage(text: str, message: str) -> None:
    parse(text)  # syntactically fine
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(text, DATA)


@settings(max_examples=200, deadline=None)
@given(st.text().filter(lambda s: "{{" not in s))
def test_text_without_actions_is_returned_unchanged(text: str) -> None:
    assert render(text, DATA) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))), st.integers(-50, 50))
def test_trunc_matches_sprig_definition(value: str, count: int) -> None:
    if count < 0:
        expected = value[len(value) + count :] if len(value) + count > 0 else value
    else:
        expected = value[:count] if len(value) > count else value
    assert render("{{ trunc .N .S }}", {"N": count, "S": value}) == expected
    assert render("{{ .S | trunc .N }}", {"N": count, "S": value}) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_quote_reads_back_to_the_same_string(value: str) -> None:
    import ast

    # Go's strconv.Quote escapes (\a \n \x.. \u.... \U........) are Python's too.
    assert ast.literal_eval(go_quote(value)) == value
    assert render("{{ quote .S }}", {"S": value}) == go_quote(value)


def test_error_position_counts_lines_and_columns() -> None:
    with pytest.raises(TemplateError) as caught:
        parse("line one\nline two {{ with .X }}")
    assert (caught.value.line, caught.value.column, caught.value.offset) == (2, 13, 21)
    assert str(caught.value).startswith("template 2:13: `with` actions are not supported")


_PIECES = [
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    "\n",
    ".x",
    ".",
    "|",
    "(",
    ")",
    '"a"',
    '"',
    "'c'",
    "`r`",
    "lower",
    "trunc 4",
    "if",
    "end",
    "else",
    "range",
    "$x",
    ":=",
    ",",
    "/*",
    "*/",
    "-",
    "3",
    "1.5",
    ".5",
    "#",
    "}",
    "nil",
    "default",
    "quote",
    '"\\n"',
]


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=10).map("".join))
def test_what_parse_accepts_go_accepts(text: str) -> None:
    # validate parses first and asks syntax_error only when parse refuses
    try:
        parse(text)
    except TemplateError:
        return
    assert syntax_error(text) is None
