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
        if self.detail:
            out["detail"] = self.detail
        if self.exit is not None:
            out["exit"] = self.exit
        if self.output is not None:
            out["output"] = self.output
        return out
