"""Coverage-guided fuzzing of the loader and the condition parser with atheris.

Optional, not run in CI (pytest does not collect this file). With atheris
installed (`python3 -m pip install atheris`), from the repository root:

    python3 tests/fuzz/atheris_load.py -atheris_runs=200000
    python3 tests/fuzz/atheris_load.py -max_total_time=600 corpus/

Any exception other than the project's own error types is a crash that
libFuzzer reports with the input that caused it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import atheris  # type: ignore[import-not-found]

with atheris.instrument_imports():
    from executor.conditions.shell import NotNative, ShellSyntaxError, parse
    from executor.load import load_text
    from executor.sources import _decode


def one_input(data: bytes) -> None:
    text = _decode(data)
    result = load_text(text, "atheris.yaml")  # never raises: returns problems
    if result.config is None:
        assert any(p.severity == "error" for p in result.problems)
    try:
        parse(text)
    except (NotNative, ShellSyntaxError):
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
