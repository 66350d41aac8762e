"""The two tokenizers of conditions must agree: the one-regex fast path may only
decline or give what the careful character-by-character reader gives."""

from __future__ import annotations

import os

from hypothesis import example, given, settings
from hypothesis import strategies as st

from executor.conditions.shell import (
    NotNative,
    ShellSyntaxError,
    Token,
    _fast_tokenize,
    careful_tokenize,
)

EXAMPLES = int(os.environ.get("COND_EXAMPLES", "300"))

# The pieces conditions are made of, and the characters that change a token's shape.
_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "-e",
        "-f",
        "!",
        "/run/cos/uki_boot_mode",
        "grep",
        "-q",
        "cat",
        "x",
        "12",
        "2",
        "1",
        "2>/dev/null",
        ">/dev/null",
        ">&2",
        "2>&1",
        " ",
        "  ",
        "\t",
        "\n",
        "\\\n",
        "&&",
        "||",
        "|",
        ";",
        ";;",
        "(",
        ")",
        "((",
        "'",
        '"',
        "'a b'",
        '"a b"',
        '"$"',
        "$",
        "$x",
        "#",
        "# c",
        "~",
        "*",
        "?",
        "{",
        "}",
        "[[",
        "a[b",
        "\\",
        "`",
        "<",
        ">",
        "&",
        "3>",
        "=",
        "case",
        "é",
    ]
)


def _careful(text: str) -> list[Token] | str:
    try:
        return careful_tokenize(text)
    except (NotNative, ShellSyntaxError) as exc:
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
@example('[ -e "/run/cos/uki_boot_mode" ] && ! grep -q x /f 2>/dev/null')
@example("[ ! -e /run/cos/uki_boot_mode ] || ( true ; false )\n# done")
@example("a \\\n b")
@example('"[" ]')
def test_fast_path_declines_or_agrees_with_the_careful_reader(text: str) -> None:
    fast = _fast_tokenize(text)
    if fast is not None:
        assert fast == _careful(text), text


def test_the_seed_conditions_take_the_fast_path() -> None:
    for text in ('[ -e "/run/cos/uki_boot_mode" ]', '[ ! -e "/run/cos/uki_boot_mode" ]'):
        assert _fast_tokenize(text) is not None
