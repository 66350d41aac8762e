"""Generated [Install] sections, enabled and disabled by us and by `systemctl --root`.

Hypothesis writes unit files from a small grammar (several keys, values with
specifiers and quotes, resets, comments, continuations, drop-ins, templates
with and without DefaultInstance, Also= to other units) and both tools
enable then disable the unit in fresh roots. When we succeed, systemctl must
succeed with the same links. When we refuse (we fail the whole step on any
[Install] error), systemctl must have reported an error too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import have
from tests.test_units_scenarios import U, build, svc
from tests.units_oracle import diff, dirs, links, ours, theirs

TARGETS = [
    "a.target",
    "b.target",
    "multi-user.target",
    "c@.target",
    "c@x.target",
    "%n.target",
    "%N.target",
    "%p.target",
    "%i.target",
    "x-%j.target",
    "%p@%i.target",
    "dev-sda.device",
    "y.socket",
]
ALIASES = ["al1.service", "al2.service", "%p-al.service", "ali@.service", "ali@%i.service"]
ALSO = ["o1.service", "o2.service", "o1.service o2.service", "missing.service", "%p-o.service"]


def _value(draw: st.DrawFn, pool: list[str]) -> str:
    words = draw(st.lists(st.sampled_from(pool), min_size=0, max_size=3))
    quoted = [f'"{w}"' if draw(st.booleans()) and "%" not in w else w for w in words]
    return " ".join(quoted)


@st.composite
def install_lines(draw: st.DrawFn) -> list[str]:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        key = draw(
            st.sampled_from(
                [
                    "WantedBy",
                    "RequiredBy",
                    "Alias",
                    "Also",
                    "DefaultInstance",
                    "comment",
                    "continued",
                ]
            )
        )
        if key == "comment":
            lines.append(draw(st.sampled_from(["# WantedBy=no.target", "; Alias=no.service"])))
        elif key == "continued":
            lines.append(f"WantedBy={draw(st.sampled_from(TARGETS))} \\")
            lines.append(f"  {draw(st.sampled_from(TARGETS))}")
        elif key == "DefaultInstance":
            lines.append(f"DefaultInstance={draw(st.sampled_from(['', 'd1', 'd2']))}")
        elif key == "Also":
            lines.append(f"Also={draw(st.sampled_from(ALSO))}")
        else:
            lines.append(f"{key}={_value(draw, ALIASES if key == 'Alias' else TARGETS)}")
    return lines


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, str | None], str]:
    template = draw(st.booleans())
    unit = "gen@.service" if template else "gen.service"
    tree: dict[str, str | None] = {
        f"{U}/{unit}": svc(*draw(install_lines())),
        f"{U}/o1.service": svc("WantedBy=o.target"),
        f"{U}/o2.service": svc("Alias=o2-alias.service"),
        f"{U}/gen-o.service": svc("WantedBy=go.target"),
    }
    if draw(st.booleans()):
        tree[f"{U}/{unit}.d/10-extra.conf"] = "[Install]\n" + "\n".join(draw(install_lines()))
    name = unit
    if template and draw(st.booleans()):
        name = "gen@i1.service"
    return tree, name


@pytest.mark.subprocess
@pytest.mark.skipif(not have("systemctl"), reason="systemctl is not installed")
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_generated_install_sections_match_systemctl(
    tmp_path: Path, case: tuple[dict[str, str | None], str]
) -> None:
    tree, name = case
    for sub in ("ours", "systemctl"):
        shutil.rmtree(tmp_path / sub, ignore_errors=True)
    mine = build(tmp_path / "ours", dict(tree), "split")
    real = build(tmp_path / "systemctl", dict(tree), "split")
    for verb in ("enable", "disable"):
        before = links(mine)
        a, b = ours(mine, verb, name), theirs(real, verb, name)
        if not a.ok:
            assert links(mine) == before, "a failed step changed links"
            assert not b.ok or "Failed" in b.message or "not a valid" in b.message, (
                f"{verb}: we refused ({a.message}) but systemctl reported no error: {b.message}"
            )
            return
        assert b.ok, f"{verb}: systemctl failed ({b.message}), we did not"
        assert not diff(links(mine), links(real)), diff(links(mine), links(real))
        assert dirs(mine) == dirs(real)
