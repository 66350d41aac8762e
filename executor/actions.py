"""Actions: what a module decided a step does, before and after it is done.

A module plans Actions from a step (reading the Root, changing nothing); the
engine applies them. Each Action says what changes (`create`, `update`,
`remove`, `none`, or `run` for a command) so a dry-run and a second run report
themselves for free.
"""

from __future__ import annotations

from executor.record import dataclass

CREATE, UPDATE, REMOVE, NONE, RUN = "create", "update", "remove", "none", "run"

# Action kinds that act on the running kernel or its devices, not the root
# (modules/live.py).
LIVE_KINDS = frozenset({"sysctl", "sethostname", "layout"})


@dataclass
class Action:
    kind: str  # file, directory, symlink, remove, command, unit, env, ...
    path: str = ""  # in-root path, as the node will see it
    change: str = NONE
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    target: str = ""  # symlink target
    command: str = ""  # shell command, or the argv of a live call, for display
    data: bytes | None = None  # new content to write; None: attributes only
    old: bytes | None = None  # content it replaces (b"" for a new file), for the diff
    detail: str = ""  # a short note for humans (why, what was skipped)
    exit: int | None = None  # after a real run of a command
    output: str | None = None
    duration: float | None = None  # seconds the command took, after a real run
    timed_out: bool = False  # the command hit --timeout and was killed (exit is then -9)
    # Not done, for the reason in `detail` (a start with no service manager, a
    # kernel setting in a root that is not /, a masked unit, a key not
    # fetched, ...), as opposed to kept: already as wanted. Set by the module
    # that decides it; meaningful only when `change` is "none".
    skipped: bool = False

    @property
    def changes(self) -> bool:
        return self.change != NONE

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        if self.path:
            out["path"] = self.path
        if self.mode is not None:
            out["mode"] = f"{self.mode:04o}"
        if self.uid is not None:
            out["uid"] = self.uid
        if self.gid is not None:
            out["gid"] = self.gid
        if self.target:
            out["target"] = self.target
        if self.command:
            out["command"] = self.command
        out["change"] = self.change
        if self.skipped:  # what the human output calls "skip": not done, `detail` says why
            out["skipped"] = True
        if self.detail:
            out["detail"] = self.detail
        if self.exit is not None:
            out["exit"] = self.exit
        if self.output is not None:
            out["output"] = self.output
        if self.duration is not None:
            out["duration"] = round(self.duration, 3)
            out["timed_out"] = self.timed_out
        return out


@dataclass(frozen=True)
class Note:
    """A planner's remark about a step (the unit planners return these)."""

    text: str
    skipped: bool = False  # it says that something was not done, and why

    def action(self, kind: str) -> Action:
        """The remark as an action of `kind` that changes nothing."""
        return Action(kind, "", NONE, detail=self.text, skipped=self.skipped)
