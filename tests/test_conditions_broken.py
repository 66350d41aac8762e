"""A broken `test`/`[` (dash exits 2) is a config error, not a false condition."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from executor.cli import main
from executor.conditions.testcmd import usage_error
from tests.conftest import have, make_tree
from tests.test_conditions_testcmd import VOCABULARY, shell_statuses

WORDS = (*VOCABULARY, "-q", "-X", "]", "abc")


@pytest.mark.subprocess
@pytest.mark.skipif(not have("dash"), reason="needs dash (apt-get install dash)")
def test_usage_errors_are_what_dash_calls_one() -> None:
    """Flagged exactly when dash exits 2 (a test cannot fail otherwise)."""
    cases: list[tuple[str, ...]] = []
    for n in range(4):
        cases += itertools.product(WORDS, repeat=n)
    rng = random.Random(14)
    cases += [tuple(rng.choice(WORDS) for _ in range(rng.randint(4, 7))) for _ in range(1500)]
    dash = shell_statuses("dash", cases)
    flagged = 0
    for case, by_dash in zip(cases, dash, strict=True):
        message = usage_error("test", list(case))
        flagged += message is not None
        assert (message is not None) == (by_dash == 2), (case, by_dash, message)
    assert flagged > 5000


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("[ -e /etc/x", "[: missing ]"),
        ("[ -q /etc/f ]", "[: -q: unexpected operator"),
        ("! [ -q /etc/f ]", "[: -q: unexpected operator"),  # dash: 2 negated is 0, still a typo
        ("test 1 -eq x", "test: x: illegal number"),
        ("true && [ -e /a ] && [ a b c ]", "[: a: unexpected operator"),
        ("[ -f /etc/f ] || [ x = ]", "[: =: argument expected"),
    ],
)
def test_validate_reports_a_broken_test_and_the_run_does_not_run_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expr: str, message: str
) -> None:
    root = make_tree(tmp_path / "root", {"/etc/f": "x"})
    src = tmp_path / "c.yaml"
    src.write_text(
        f"stages:\n  boot:\n  - name: broken\n    if: '{expr}'\n"
        "    files: [{path: /etc/ran, content: x}]\n"
    )
    args = ["--root", str(root), "--no-cmdline"]
    assert main(["validate", str(src), *args]) == 1
    out = capsys.readouterr().out
    assert f"{src}:4:9: error: `if` has a broken test: {message}" in out
    assert main(["apply", "-s", "boot", str(src), *args, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert message in doc["errors"][0]["message"]
    assert not (root / "etc/ran").exists()


def test_a_step_whose_test_is_broken_fails_when_it_gets_past_load(tmp_path: Path) -> None:
    from executor.conditions import check_step
    from executor.context import RunContext
    from executor.errors import StepError
    from executor.model import Step
    from executor.root import Root

    ctx = RunContext(root=Root(str(tmp_path)))
    with pytest.raises(StepError, match=r"if: `\[ -e /x`: \[: missing \]"):
        check_step(ctx, Step(stage="boot", index=0, if_="[ -e /x"))
    assert check_step(ctx, Step(stage="boot", index=0, if_="[ -e /x ]")).run is False
