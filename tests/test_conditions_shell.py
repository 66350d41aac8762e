"""The condition parser: quote removal, structure, and its three answers.

A parse gives an AST (the shell would run the same commands), NotNative (valid
or not, it goes to /bin/sh) or ShellSyntaxError (dash and bash both reject it).
The subprocess tests hold the parser to dash and bash: quote removal against
what the shells pass to a command, and check_syntax against `sh -n`.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.conditions.shell import (
    AndOr,
    Command,
    Group,
    NotNative,
    Pipeline,
    Sequence,
    ShellSyntaxError,
    check_syntax,
    parse,
    tokenize,
)
from tests.conftest import have

EXAMPLES = int(os.environ.get("COND_EXAMPLES", "60"))
needs_shells = pytest.mark.skipif(not (have("dash") and have("bash")), reason="needs dash+bash")


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text) if t.kind == "word"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[ -e /x ]", ["[", "-e", "/x", "]"]),
        ('[ -e "/run/cos/uki_boot_mode" ]', ["[", "-e", "/run/cos/uki_boot_mode", "]"]),
        ("grep -q 'a b' f", ["grep", "-q", "a b", "f"]),
        ("a'b'\"c\"d", ["abcd"]),
        ("'' \"\"", ["", ""]),
        ("a\\ b", ["a b"]),
        ('"a\\"b\\\\c\\$d\\`e\\x"', ['a"b\\c$d`e\\x']),
        ("'a\\b'", ["a\\b"]),
        ('foo$ "bar$" $/x', ["foo$", "bar$", "$/x"]),
        ('grep -qE "(^| )x( |$)" f', ["grep", "-qE", "(^| )x( |$)", "f"]),
        ("a \\\n b", ["a", "b"]),
        ("ab\\\ncd", ["abcd"]),
        ("a # comment\nb", ["a", "b"]),
        ("a#b", ["a#b"]),
        ("echo a\\", ["echo", "a\\"]),
        ("x 2>/dev/null y", ["x", "y"]),
        ("x2>/dev/null", ["x2"]),
        ("x >/dev/null 2>&1", ["x"]),
        ("x > /dev/null", ["x"]),
        ('"[" ]', ["[", "]"]),
    ],
)
def test_quote_removal(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("true", Command(("true",))),
        ("", Sequence(())),
        ("  # only a comment\n", Sequence(())),
        ("2>/dev/null", Command(())),
        ("! true", Pipeline((Command(("true",)),), negated=True)),
        ("a && b || c", AndOr(Command(("a",)), (("&&", Command(("b",))), ("||", Command(("c",)))))),
        ("a &&\n\n b", AndOr(Command(("a",)), (("&&", Command(("b",))),))),
        ("a\nb; c;", Sequence((Command(("a",)), Command(("b",)), Command(("c",))))),
        ("( a )", Group(Command(("a",)))),
        ("! ( a ) 2>/dev/null", Group(Command(("a",)), negated=True)),
        ("(\n a\n)", Group(Command(("a",)))),
        ("cat f | grep x", Pipeline((Command(("cat", "f")), Command(("grep", "x"))))),
        ("cat f |\n grep x", Pipeline((Command(("cat", "f")), Command(("grep", "x"))))),
        ("a && 2>/dev/null", AndOr(Command(("a",)), (("&&", Command(())),))),
    ],
)
def test_structure(text: str, tree: object) -> None:
    assert parse(text) == tree


NOT_NATIVE = [
    ('[ "$(cat /x)" = y ]', "expansion"),
    ("[ -e $HOME ]", "expansion"),
    ("[ -e `pwd` ]", "substitution"),
    ("[ -e /x* ]", "glob"),
    ("[ -e /x? ]", "glob"),
    ("grep -q [Kk] /f", "glob"),
    ("[ -e ~/x ]", "tilde"),
    ("echo a{b,c}", "brace"),
    ("{ true; }", "brace"),
    ("[[ -e /x ]]", "[["),
    ("if true; then true; fi", "keyword"),
    ("A=1 true", "assignment"),
    ("true &", "background"),
    ("true > /tmp/x", "redirection"),
    ("true < /dev/null", "redirection"),
    ("true 2>/dev/null2", "redirection"),
    ("test x 3>/dev/null", "file descriptor"),
    ("test x 12>/dev/null", "file descriptor"),
    ("f() { true; }", "brace"),
    ("f() ( true )", "function"),
    ("! ! true", "! !"),
    ("! \ntrue", "end of a line"),
    ("true || !", "after `||`"),  # dash: a syntax error; bash: true
    ("true||!", "after `||`"),
    ("(( 1 ))", "arithmetic"),
    ("$'x'", "expansion"),
    ("( " * 200 + "true" + " )" * 200, "nested deeper"),
    ('"$x"', "expansion"),
]


@pytest.mark.parametrize(("text", "why"), NOT_NATIVE)
def test_outside_the_subset(text: str, why: str) -> None:
    with pytest.raises(NotNative, match=None) as caught:
        parse(text)
    assert why in str(caught.value)
    assert check_syntax(text) is None


SYNTAX_ERRORS = [
    "!",
    "true && !",
    "! && true",
    "( ! )",
    "true &&",
    "&& true",
    "true ||",
    "true | ! false",
    "( )",
    "( true",
    "true )",
    "'unterminated",
    '"unterminated',
    "true ;;",
    "; true",
    "true\n&& false",
    "true | | false",
    "( true ) x",
    "2>/dev/null ( true )",
    "true\n;",
]


@pytest.mark.parametrize("text", SYNTAX_ERRORS)
def test_syntax_errors(text: str) -> None:
    assert check_syntax(text)
    with pytest.raises(ShellSyntaxError):
        parse(text)


def shell_says_valid(shell: str, texts: list[str]) -> list[bool]:
    script = f'for c do {shell} -n -c -- "$c" >/dev/null 2>&1; echo $?; done'
    done = subprocess.run(
        ["dash", "-c", script, "check", *texts], capture_output=True, text=True, check=True, cwd="/"
    )
    return [status == "0" for status in done.stdout.split()]


@needs_shells
@pytest.mark.subprocess
def test_tables_agree_with_dash_and_bash() -> None:
    shells_differ = ("! ! true", "! \ntrue", "(( 1 ))", "true || !", "true||!")
    valid = [t for t, _ in NOT_NATIVE if t not in shells_differ] + [
        "true",
        "a && b || c",
        "(\n a\n)",
        "cat f |\n grep x",
        "a && 2>/dev/null",
        "# c",
    ]
    for shell in ("dash", "bash"):
        assert all(shell_says_valid(shell, valid)), shell
    assert not any(shell_says_valid("dash", SYNTAX_ERRORS))
    # a lone `!` after `||`: dash rejects it, bash runs the whole text as true
    assert not any(shell_says_valid("dash", ["true || !", "true||!"]))
    assert bash_statuses(["true || !", "true||!"]) == [0, 0]
    assert all(
        not ok or status != 0
        for ok, status in zip(
            shell_says_valid("bash", SYNTAX_ERRORS), bash_statuses(SYNTAX_ERRORS), strict=True
        )
    )


def bash_statuses(texts: list[str]) -> list[int]:
    script = 'for c do bash -c -- "$c" >/dev/null 2>&1 </dev/null; echo $?; done'
    done = subprocess.run(
        ["dash", "-c", script, "run", *texts], capture_output=True, text=True, check=True, cwd="/"
    )
    return [int(status) for status in done.stdout.split()]


# -- hypothesis: the parser against the shells ------------------------------------

FRAGMENTS = (
    "true",
    "false",
    "x",
    "-e",
    "[",
    "]",
    "!",
    "&&",
    "||",
    "|",
    ";",
    "(",
    ")",
    "\n",
    "'a b'",
    '"c"',
    "'",
    '"',
    "2>/dev/null",
    "# note",
    "\\\n",
    "&",
    ";;",
    "{",
    "}",
)


@needs_shells
@pytest.mark.subprocess
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=8), min_size=20, max_size=20),
    st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_check_syntax_matches_sh_n(soups: list[list[str]], spaced: list[bool]) -> None:
    texts = [(" " if sp else "").join(soup) for soup, sp in zip(soups, spaced, strict=True)]
    verdicts = {}
    for text in texts:
        try:
            parse(text)
            verdicts[text] = "valid"
        except NotNative:
            verdicts[text] = "unknown"
        except ShellSyntaxError:
            verdicts[text] = "error"
    bash_ran = dict(zip(texts, bash_statuses(texts), strict=True))
    for shell in ("dash", "bash"):
        for text, ok in zip(texts, shell_says_valid(shell, texts), strict=True):
            if verdicts[text] == "valid":
                assert ok, f"{shell} rejects {text!r}, which parsed"
            elif verdicts[text] == "error" and shell == "dash":
                assert not ok, f"dash accepts {text!r}, reported as a syntax error"
            elif verdicts[text] == "error":  # bash: rejected, or false (a lone `!`)
                assert not ok or bash_ran[text] != 0, f"bash runs {text!r} as true"


WORD_PIECES = st.one_of(
    st.text(alphabet="abc/._-=:%+,]@", min_size=1, max_size=3),
    st.text(alphabet='ab $\\"`*?[{~#\t\n!', max_size=4).map(lambda s: f"'{s}'"),
    st.sampled_from(
        (
            '"a b"',
            '"\\""',
            '"\\\\"',
            '"\\$"',
            '"\\`"',
            '"\\x"',
            '"$"',
            '"a$"',
            '"[x]"',
            '"*"',
            '"~"',
            '"a\\\nb"',
            '"\n"',
        )
    ),
    st.sampled_from(("\\ ", "\\'", '\\"', "\\\\", "\\$", "\\*", "\\[", "\\\n", "\\#", "\\~")),
    st.sampled_from(
        (
            "$",
            "$/",
            "$.",
            "$:",
            "~",
            "[",
            "]",
            "a#b",
            "!",
            "1",
            "12",
            "3",
            "2>/dev/null",
            ">/dev/null",
            "1>&2",
        )
    ),
)
SEPARATORS = st.sampled_from((" ", "\t", "  ", " \\\n "))


@needs_shells
@pytest.mark.subprocess
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(
            st.tuples(st.lists(WORD_PIECES, min_size=1, max_size=3), SEPARATORS),
            min_size=1,
            max_size=4,
        ),
        min_size=10,
        max_size=10,
    ),
    st.lists(st.sampled_from(("", "", " #x", " # a 'b")), min_size=10, max_size=10),
)
def test_words_equal_what_the_shell_passes(
    lines: list[list[tuple[list[str], str]]], comments: list[str]
) -> None:
    texts = [
        "".join("".join(pieces) + sep for pieces, sep in line) + comment
        for line, comment in zip(lines, comments, strict=True)
    ]
    expected: list[list[str] | None] = []
    for text in texts:
        try:
            expected.append(words(text))
        except (NotNative, ShellSyntaxError):
            expected.append(None)
    printer = "\nfor a do printf '%s\\0' \"$a\"; done; printf '\\1'"
    for shell in ("dash", "bash"):
        for text, mine in zip(texts, expected, strict=True):
            if mine is None:
                continue
            done = subprocess.run(
                [shell, "-c", "set -- " + text + printer], capture_output=True, cwd="/"
            )
            got = done.stdout.rstrip(b"\1").split(b"\0")[:-1]
            assert [w.encode() for w in mine] == got, (shell, text)
