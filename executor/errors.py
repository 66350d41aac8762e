"""The project's exception types.

Library code raises these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executor.record import dataclass

if TYPE_CHECKING:
    from executor.actions import Action


class ExecutorError(Exception):
    """Base of every error this package raises on purpose."""


class RootError(ExecutorError):
    """A path could not be resolved or changed inside the root.

    `errno` is the POSIX error the operation would have given (ENOENT, ENOTDIR,
    ELOOP, ...) so that condition evaluation can mirror the shell's answer.
    """

    def __init__(self, message: str, *, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


class StepError(ExecutorError):
    """A step (or one of its modules) failed; the message says why."""


class EntryErrors(StepError):
    """Some entries of a module failed, the others did not (yip acts per entry).

    `actions` are those of the entries that succeeded, still to be applied;
    `messages` say which entries failed and why. The step fails.
    """

    def __init__(self, messages: list[str], actions: list[Action]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
        self.actions = actions


class SourceError(ExecutorError):
    """A source could not be read at all (missing file, unreachable URL)."""


@dataclass(frozen=True)
class Problem:
    """One validation finding, positioned in its source."""

    severity: str  # "error" or "warning"
    source: str
    line: int
    column: int
    path: str  # config path such as stages.initramfs[0].files[1].permissions
    message: str

    def format(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}" if self.line else self.source
        at = f" ({self.path})" if self.path else ""
        return f"{where}: {self.severity}: {self.message}{at}"

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "severity": self.severity,
            "message": self.message,
        }


class ProblemList:
    """For results that carry problems: their errors and warnings apart."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]
