"""`stage-executor schema`: a draft 2020-12 JSON Schema of the format.

The schema is rendered from the type tree the loader walks, and it is the
strict form of the format (unknown keys in a step, file, ... are refused, as
`validate --strict` refuses them). Checked here with `jsonschema`:
every shipped config and valid fixture passes, the broken cases are refused
when the schema can express their problem, and, on generated documents,
the schema never refuses what `validate --strict` accepts.
"""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from executor import schema as S
from executor.cli import main
from executor.load import load_text
from tests.conftest import CONFIGS, REPO
from tests.test_validate import CASES

FIXTURES = REPO / "tests" / "fixtures"


@functools.cache
def validator() -> Draft202012Validator:
    return Draft202012Validator(S.json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(instance: object) -> list[str]:
    return [e.message for e in validator().iter_errors(instance)]


def schema_files() -> list[Path]:
    """configs/ and every fixture but the broken ones (tests/fixtures/broken/) and
    those of the encoding cases (not UTF-8 text)."""
    fixtures = [
        p
        for p in FIXTURES.rglob("*.yaml")
        if "broken" not in p.relative_to(FIXTURES).parts and _utf8(p)
    ]
    return sorted(CONFIGS.glob("*.yaml")) + sorted(fixtures)


def _utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def valid_files() -> list[Path]:
    """Files that must pass `validate --strict` too: no warning at all."""
    return sorted(CONFIGS.glob("*.yaml")) + sorted((FIXTURES / "valid").rglob("*.yaml"))


def test_schema_command_prints_a_valid_draft_2020_12_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == S.json_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(printed)


def test_schema_follows_the_type_tree() -> None:
    doc = S.json_schema()
    step = doc["properties"]["stages"]["additionalProperties"]["items"]  # type: ignore[index]
    assert set(step["properties"]) == set(S.STEP.fields)
    assert step["additionalProperties"] is False
    file = step["properties"]["files"]["items"]
    assert set(file["properties"]) == set(S.FILE.fields)
    assert file["required"] == ["path"]
    assert "additionalProperties" not in doc  # the top level is open (install:, k3s:, ...)


@pytest.mark.parametrize("path", schema_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_configs_and_fixtures_pass_the_schema(path: Path) -> None:
    assert schema_errors(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("path", valid_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_configs_and_valid_fixtures_pass_validate_strict(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--strict", "--no-cmdline", str(path)]) == 0, capsys.readouterr().out


def test_there_are_fixtures_to_check() -> None:
    assert len(valid_files()) >= 4
    assert (CONFIGS / "sysext-opt.yaml") in valid_files()
    assert set(valid_files()) <= set(schema_files())


# The broken cases whose problem a JSON Schema can express: types, required
# keys, modes, unknown keys of closed mappings, encodings, unit names, regexes
# (format "regex"). The others are semantic (templates, shell, after:, stage
# typos, content decoding) or are warnings the schema leaves alone.
SCHEMA_SEES = ("type:", "missing:", "mode:", "unknown key:", "encoding: unknown", "regex:", "unit:")
SCHEMA_MISSES = ("mode: decimal-looking", "unknown key: top level", "unknown key: stage name")


def _schema_should_refuse(case_id: str) -> bool:
    return case_id.startswith(SCHEMA_SEES) and not case_id.startswith(SCHEMA_MISSES)


LOADABLE = [c for c in CASES if all(not w.fragment.startswith("YAML") for w in c.want)]


@pytest.mark.parametrize("case", LOADABLE, ids=lambda c: c.id)
def test_broken_cases_are_refused_when_the_schema_can_tell(case: Any) -> None:
    refused = any(schema_errors(yaml.safe_load(text)) for text in case.files.values())
    assert refused is _schema_should_refuse(case.id)


def test_broken_fixture_is_refused() -> None:
    demo = yaml.safe_load((FIXTURES / "broken" / "demo.yaml").read_text())
    messages = schema_errors(demo)
    assert any("'permsisions' was unexpected" in m for m in messages)
    assert any("'systctl' was unexpected" in m for m in messages)
    assert any("edge/agent" in m for m in messages)


# -- generated documents: the schema is never stricter than validate --strict ----------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.text("ab/ {}", max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
    st.just({"x": 1}),
)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` nine times in ten: documents are mostly right, as real ones are."""
    # (A middle value: hypothesis draws the bounds of a range more often.)
    return st.integers(0, 9).flatmap(lambda n: bad if n == 5 else good)


def pick(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    return mostly(st.sampled_from(good), st.sampled_from(bad))


CHECKED: dict[str, st.SearchStrategy[Any]] = {
    S.REGEX: pick(["^amd64$", "(?i)ubuntu", ""], ["x(", "[a-"]),
    S.CONDITION: pick(["[ -e /x ]", "{{ .x }} = y", ""], ["true && && false", "{{ end }}"]),
    S.TEMPLATE: pick(["plain", "{{ .Values.x }}", "x }}"], ["{{ .x", "{{ }}"]),
    S.ENCODING: pick(["", "b64", "base64"], ["base64+gzip", "gz"]),
    S.UNIT: pick(["sshd", "sshd.service", "getty@tty1", "ok.timer", 12], ["a/b", "", "x y"]),
    S.DROPIN: pick(["10-x", "x.conf", ""], ["../x", "."]),
    S.SERVICE_MANAGER: pick(["systemd", "openrc", ""], ["sytemd"]),
    S.STAGE: pick(["boot", "initramfs.after", "my-stage"], ["intramfs"]),
}
EXTRA_KEYS = st.sampled_from(["permsisions", "frobnicate", "systctl", "nmae"])
# YAML cannot write an int in octal: 420 comes back as decimal-looking 420 (a
# warning), so good int modes are those without that look.
MODES = pick(["0644", "0o600", "755", 0, 64, 0o7777, 999], [-1, 0o20000, "rw", "9", 420])


def values_of(t: S.Type, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped by the type tree, with now and then a wrong one."""
    return mostly(_shaped(t, depth), JUNK) if depth else _shaped(t, depth)


def _shaped(t: S.Type, depth: int) -> st.SearchStrategy[Any]:
    if isinstance(t, S.Str):
        if t.check in CHECKED:
            return CHECKED[t.check]
        return st.one_of(st.text("abc-./", max_size=6), st.integers(0, 9), st.none())
    if isinstance(t, S.Int):
        return st.integers(0, 65535)
    if isinstance(t, S.Bool):
        return st.booleans()
    if isinstance(t, S.Mode):
        return MODES
    if isinstance(t, S.AnyValue):
        return JUNK
    # Stages and steps are never empty, so that most documents have steps.
    if isinstance(t, S.ListOf):
        least = 1 if t.item is S.STEP else 0
        return st.lists(values_of(t.item, depth + 1), min_size=least, max_size=2)
    if isinstance(t, S.MapOf):
        keys = CHECKED[t.key_check] if t.key_check else st.sampled_from(["A", "B_2"])
        least = 1 if t.key_check == S.STAGE else 0
        return st.dictionaries(keys, values_of(t.value, depth + 1), min_size=least, max_size=2)
    assert isinstance(t, S.Obj)
    return _objects(t, depth)


def _objects(t: S.Obj, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields = dict(t.fields)
    if t is S.FILE:
        fields.pop("encoding")  # drawn with a content that fits it, below
    names = sorted(fields)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        # A few keys per mapping, as in real configs; every key gets its turn.
        chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
        if t is S.CONFIG and "stages" not in chosen:
            chosen.append("stages")
        out: dict[str, Any] = {k: draw(values_of(fields[k].type, depth + 1)) for k in chosen}
        for key in t.required:
            if draw(st.integers(0, 19)) != 7:  # now and then a required key is missing
                out.setdefault(key, draw(values_of(t.fields[key].type, depth + 1)))
        if t is S.FILE and draw(st.booleans()):
            text = draw(pick(["hello\n", "{{ .x }}"], ["{{ .x"]))
            out["encoding"] = draw(CHECKED[S.ENCODING])
            out["content"] = base64.b64encode(text.encode()).decode()
        if draw(st.integers(0, 19)) == 7:
            out[draw(EXTRA_KEYS)] = draw(JUNK)
        return out

    return build()


def _problems(document: dict[str, Any], cloud: bool = False) -> list[object]:
    text = ("#cloud-config\n" if cloud else "") + yaml.safe_dump(document, sort_keys=False)
    return list(load_text(text, "gen.yaml").problems)


def _refused(document: dict[str, Any]) -> bool:
    return bool(schema_errors(yaml.safe_load(yaml.safe_dump(document, sort_keys=False))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_shaped(S.CONFIG, 0), cloud=st.booleans())
def test_schema_never_refuses_what_validate_strict_accepts(
    document: dict[str, Any], cloud: bool
) -> None:
    # Equivalently: whatever the schema refuses, validate reports. (The
    # converse does not hold: templates, shell and after: are beyond a schema.)
    # With the #cloud-config header, the cloud-init keys are read too.
    if not _problems(document, cloud):
        assert not _refused(document), yaml.safe_dump(document, sort_keys=False)


def _steps(document: dict[str, Any]) -> list[Any]:
    stages = document.get("stages")
    if not isinstance(stages, dict):
        return []
    return [step for steps in stages.values() if isinstance(steps, list) for step in steps]


def test_the_generator_makes_both_clean_and_refused_documents() -> None:
    # Guards the property above against a generator that only makes junk.
    quick = settings(
        max_examples=2000,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    clean = find(
        _shaped(S.CONFIG, 0),
        lambda d: any(isinstance(s, dict) and len(s) >= 2 for s in _steps(d)) and not _problems(d),
        settings=quick,
    )
    assert not _refused(clean)
    refused = find(
        _shaped(S.CONFIG, 0), lambda d: _refused(d) and len(_steps(d)) > 0, settings=quick
    )
    assert _problems(refused)
