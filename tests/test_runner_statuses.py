"""Exit statuses a caller expects (blkid's 2, e2fsck's 1) are answers, not failures
in the log; any other status, and a timeout, is still logged as failed."""

from __future__ import annotations

import pytest

from executor.runner import Runner


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("status", "expected", "logged"),
    [(0, (0,), False), (2, (0, 2), False), (1, (0, 2), True), (2, (0,), True)],
)
def test_only_unexpected_statuses_are_logged_as_failed(
    capsys: pytest.CaptureFixture[str], status: int, expected: tuple[int, ...], logged: bool
) -> None:
    done = Runner().run(["sh", "-c", f"exit {status}"], timeout=30, expected=expected)
    assert done.returncode == status
    assert done.ok is (status == 0)  # what `ok` means does not change
    assert ("failed (exit status" in capsys.readouterr().err) is logged


@pytest.mark.subprocess
def test_a_timeout_is_logged_even_when_every_status_is_expected(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done = Runner().run(["sleep", "5"], timeout=0.3, expected=range(-64, 256))
    assert done.timed_out
    assert "timed out" in capsys.readouterr().err
