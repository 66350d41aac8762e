"""Recognised but unsupported modules: the step fails naming the module, the
loader warns at the key's position, the other steps still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.load import load_text
from tests.modhelp import run_config, tree

CASES = {
    "git": "{url: 'https://example.com/r.git', path: /opt/r}",
    "packages": "{install: [vim]}",
    "package_pins": "{vim: '9.0'}",
    "unpack_images": "[{source: 'quay.io/x:y', target: /opt/x}]",
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_unsupported_module_fails_its_step_only(tmp_path: Path, module: str) -> None:
    text = f"""stages:
  test:
    - name: uses it
      files: [{{path: /before, content: x}}]
      {module}: {CASES[module]}
    - name: next
      files: [{{path: /after, content: y}}]
"""
    result = load_text(text, "c.yaml")
    (warning,) = [p for p in result.problems if p.severity == "warning"]
    assert (warning.line, warning.column, warning.path) == (5, 7, f"stages.test[0].{module}")
    assert f"module {module} is not supported by this executor" in warning.message
    root = tree(tmp_path / "r", {})
    run = run_config(root, text)
    assert run.statuses == ["failed", "applied"]
    assert run.steps[0].reason == f"module {module} is not supported by this executor"
    assert (root / "after").read_text() == "y"


def test_a_badly_shaped_unsupported_module_is_a_validation_error() -> None:
    result = load_text("stages:\n  t:\n    - git: {auth: [x]}\n", "c.yaml")
    errors = [p for p in result.problems if p.severity == "error"]
    assert errors and errors[0].path == "stages.t[0].git.auth"


def test_a_badly_shaped_layout_is_a_validation_error() -> None:
    result = load_text("stages:\n  t:\n    - layout: {device: [x]}\n", "c.yaml")
    errors = [p for p in result.problems if p.severity == "error"]
    assert errors and errors[0].path == "stages.t[0].layout.device"
