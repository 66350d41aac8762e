"""The value checks of executor.validate, one kind at a time.

`if` syntax is checked against a real oracle: `dash -n -c EXPR` parses
without running anything, so validate must never call an expression broken
that dash accepts (that would drop a whole valid file at boot), and must
catch the plainly broken ones dash refuses.
"""

from __future__ import annotations

import base64
import gzip
import shutil
import subprocess

import pytest

from executor.load import load_text
from executor.validate import (
    check_condition,
    check_file,
    check_regex,
    check_stage,
    check_template,
    check_unit,
)

# Rendered by executor.template: nothing to say.
SUPPORTED_TEMPLATES = [
    "no actions at all",
    "lone }} braces are text",
    "kairos-{{ trunc 4 .MachineID }}",
    "{{ .Values.node.hostname }}",
    "{{- .Values.node.hostname -}}",
    "{{-3}}",  # a number, not a trim marker
    '{{ .Values.os.name | lower | replace " " "-" }}',
    '{{ default "node" .Values.node.hostname | quote }}',
    '{{ "}}" }}',
    "{{ `raw }} string` }}",
    "{{/* a comment */}}",
    "{{- /* trimmed comment */ -}}",
    "{{ .a\n| lower }}",  # newlines inside actions are allowed since Go 1.16
    "docker inspect --format '{{.Id}}' web",
]
# Valid Go templates (yip parses them) outside the subset: one warning, no error.
GO_ONLY_TEMPLATES = [
    '{{ printf "%s-%s" (lower .a) (upper (trim .b)) }}',
    "{{ 'x' }}",
    "{{ if .Values.x }}a{{ else if .Values.y }}b{{ else }}c{{ end }}",
    "{{ range $i, $e := .Values.network }}{{ $e.name }}{{ end }}",
    "{{ range .Values.storage }}{{ if .x }}{{ break }}{{ end }}{{ end }}",
    "{{ with .Values.node }}{{ .hostname }}{{ end }}",
    "{{ $x := .Values.node.hostname }}{{ $x = upper $x }}{{ $x }}",
    '{{ define "t" }}x{{ end }}{{ template "t" . }}',
    "{{ .5 }}",  # a number to Go, not an integer
]

BROKEN_TEMPLATES = [
    ("echo {{ .x", 5, "unclosed action"),
    ("{{ }}", 0, "empty action"),
    ("a {{- -}} b", 2, "empty action"),
    ("{{ .x | }}", 0, "missing command after `|`"),
    ("{{ | .x }}", 3, "missing command before `|`"),
    ("{{ .x || lower }}", 7, "missing command before `|`"),
    ("{{ (.x }}", 0, "unclosed `(`"),
    ("{{ .x) }}", 5, "unexpected `)`"),
    ("{{ lower () }}", 10, "empty parentheses"),
    ('{{ "abc }}', 3, "unterminated quoted string"),
    ("{{ `abc }}", 3, "unterminated raw string"),
    ('{{ "a\nb" }}', 3, "unterminated quoted string"),
    ("{{/* open", 0, "unclosed comment"),
    ("{{/* c */ x }}", 0, "comment ends before the closing `}}`"),
    ("{{ end }}", 0, "`{{end}}` without an open"),
    ("{{ else }}", 0, "`{{else}}` outside"),
    ("{{ if .x }}yes", 0, "`{{if}}` is never closed"),
    ("{{ range .x }}{{ if .y }}{{ end }}", 0, "`{{range}}` is never closed"),
    ("{{ break }}", 0, "`{{break}}` outside"),
    ('{{ if .x }}{{ define "t" }}{{ end }}{{ end }}', 11, "only allowed at the top level"),
    # Go's lexer: characters outside its syntax, a keyword ends where an identifier
    # does, a comment only right after `{{`, escapes Go does not know
    ("{{ # }}", 3, "unexpected '#'"),
    ("{{- range$x }}", 0, "`{{range}}` is never closed"),
    ("{{ := .x }}", 3, "unexpected `:=`"),
    ("{{ .x, .y }}", 5, "unexpected `,`"),
    ("{{ /* c */ }}", 3, "unexpected '/'"),
    ('{{ "bad \\q" }}', 8, "unknown escape sequence"),
    ("{{ 'ab }}", 3, "unterminated character constant"),
]


@pytest.mark.parametrize("text", SUPPORTED_TEMPLATES)
def test_supported_templates_pass(text: str) -> None:
    assert check_template(text) == []


@pytest.mark.parametrize("text", GO_ONLY_TEMPLATES)
def test_valid_go_templates_outside_the_subset_are_a_warning(text: str) -> None:
    [finding] = check_template(text)
    assert finding.severity == "warning"
    assert finding.message.endswith("this executor does not render it, so this step will fail")
    assert 0 <= finding.offset < len(text)


@pytest.mark.parametrize(("text", "offset", "fragment"), BROKEN_TEMPLATES)
def test_broken_templates_are_found_where_they_start(text: str, offset: int, fragment: str) -> None:
    [finding] = check_template(text)
    assert finding.severity == "error"
    assert fragment in finding.message
    assert finding.offset == offset


# -- `if` against dash -n ------------------------------------------------------------

VALID_SHELL = [
    '[ -e "/run/cos/uki_boot_mode" ] && [ ! -e "/run/cos/recovery_mode" ]',
    "[ -e /x ] ||\n  [ -e /y ]",
    "grep -q foo /etc/x 2>/dev/null",
    "cat /proc/cmdline | grep -q 'rd.neednet=1'",
    "! true",
    "true ;",
    "true;\n\n",
    "true && ( false || true )",
    "test -f /x -a -f /y",
    "echo $((1+2))",
    "a=1",
    "[ -e /x ] # comment",
    "{ true; }",
    "if true; then false; fi",
    "for i in 1 2; do true; done",
    "true > /tmp/x",
    "true &",
    "echo 'a'\"b\"",
    '[ "$(cat /etc/hostname)" = node ]',
    "2>/dev/null true",
    '[ -e "/x" ] && \\\n  [ -e /y ]',
]
BROKEN_SHELL = [
    "[ -e /x ] && && true",
    '[ -e "/x ]',
    "[ -e '/x ]",
    "( true",
    "true )",
    "!",
    "&& true",
    "true &&",
    "true ||",
    "true |",
    "| true",
    "; true",
    "true;;",
    "( )",
]
# Valid shell that an earlier conditions.shell.parse called a syntax error
# (validate then dropped the file); kept as a regression table.
PARSER_FALSE_ALARMS = [
    "case foo in a) true;; esac",
    "x() { true; }",
    "# only a comment",
    "true\\",
]


def _dash_accepts(expr: str) -> bool:
    return subprocess.run(["dash", "-n", "-c", expr], capture_output=True).returncode == 0


def _validate_accepts(expr: str) -> bool:
    return not any(f.severity == "error" for f in check_condition(expr))


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("dash") is None, reason="needs dash as the oracle")
@pytest.mark.parametrize("expr", VALID_SHELL + BROKEN_SHELL + PARSER_FALSE_ALARMS)
def test_if_syntax_agrees_with_dash(expr: str) -> None:
    expected = expr in VALID_SHELL or expr in PARSER_FALSE_ALARMS
    assert _dash_accepts(expr) is expected  # the table itself is right
    assert _validate_accepts(expr) is expected


def test_shell_outside_the_native_subset_is_not_an_error() -> None:
    # NotNative is a routing decision (run it in /bin/sh), never a problem.
    assert check_condition('[ -n "$HOSTNAME" ]') == []
    assert check_condition("ls /x/* >/tmp/out") == []


# -- other kinds -----------------------------------------------------------------------


def test_regex_findings_carry_the_offset() -> None:
    [finding] = check_regex("ab(c")
    assert (finding.offset, finding.severity) == (2, "error")
    [huge] = check_regex("a{99999999999}")
    assert "invalid regex" in huge.message
    assert check_regex("^(x86_64|amd64)$") == []


@pytest.mark.parametrize(
    "name",
    [
        "sshd",
        "sshd.service",
        "getty@tty1.service",
        "foo@.service",
        "systemd-sysext",
        "dev-disk-by\\x2dlabel-COS.mount",
    ],
)
def test_valid_unit_names(name: str) -> None:
    assert check_unit(name) == []


@pytest.mark.parametrize("name", ["", "  ", "../x", "a b", "foo@bar@baz", "x" * 256, "ünit"])
def test_invalid_unit_names(name: str) -> None:
    assert [f.severity for f in check_unit(name)] == ["error"]


def test_stage_typos_only_near_known_stages() -> None:
    assert check_stage("initramfs.after") == []
    assert check_stage("after-install-chroot") == []
    assert check_stage("my-own-stage") == []  # any name may be asked for
    assert check_stage("kairos-install.pre") == []
    [typo] = check_stage("netwrok")
    assert "did you mean `network`?" in typo.message


def test_encoded_content_that_decodes_is_fine_and_its_template_is_checked() -> None:
    good = base64.b64encode(gzip.compress(b"hello {{ .Values.x }}\n")).decode()
    assert check_file({"content": good, "encoding": "gz+b64"}) == []
    bad = base64.b64encode(b"hello {{ .Values.x\n").decode()
    [finding] = check_file({"content": bad, "encoding": "base64"})
    assert finding.key == "content"
    assert finding.message == (
        "template: unclosed action: `{{` without `}}` (in the decoded content)"
    )
    binary = base64.b64encode(b"\xff\xfe{{").decode()
    assert check_file({"content": binary, "encoding": "b64"}) == []


def test_positions_inside_values_follow_the_file_text() -> None:
    text = (
        "stages:\n"
        "  boot:\n"
        '    - name: "ünïcode"\n'
        "      node: ü(x\n"  # a plain scalar: columns count characters
        "      commands:\n"
        "        - |  # the block's own comment\n"
        "            first\n"
        "              indented {{ .x\n"
    )
    problems = load_text(text, "t.yaml").problems
    got = [(p.line, p.column, p.path) for p in problems]
    assert got == [
        (4, 14, "stages.boot[0].node"),  # the `(` after the two-byte ü
        (8, 24, "stages.boot[0].commands[0]"),
    ]
