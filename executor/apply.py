"""Apply planned Actions to the Root (a dry-run Root only records them)."""

from __future__ import annotations

from executor.actions import CREATE, LIVE_KINDS, NONE, REMOVE, RUN, UPDATE, Action
from executor.context import RunContext
from executor.errors import RootError, StepError

OUTPUT_IN_REPORT = 4096  # characters of command output kept in the report


def apply_action(ctx: RunContext, action: Action) -> None:
    """Make `action` true in the root; raise StepError when that fails."""
    if action.change == NONE:
        return
    try:
        if action.change == RUN:
            _run(ctx, action)
        elif action.kind in LIVE_KINDS:
            from executor.modules.live import apply_live  # only a live system needs it

            apply_live(ctx, action)
        elif action.kind == "download" and action.data is None and ctx.dry_run:
            return  # a dry-run does not fetch: there is no content to record
        elif action.kind == "directory":
            _directory(ctx, action)
        elif action.kind == "symlink":
            ctx.root.symlink(action.path, action.target)
        elif action.change == REMOVE:
            ctx.root.remove(action.path)
        else:
            _file(ctx, action)
    except RootError as exc:
        raise StepError(str(exc)) from None


def _file(ctx: RunContext, action: Action) -> None:
    assert action.mode is not None and action.uid is not None and action.gid is not None
    if action.data is not None:
        ctx.root.write_file(
            action.path, action.data, mode=action.mode, uid=action.uid, gid=action.gid
        )
    else:
        ctx.root.set_attrs(action.path, mode=action.mode, uid=action.uid, gid=action.gid)


def _directory(ctx: RunContext, action: Action) -> None:
    if action.change == CREATE:
        node = ctx.root.lookup(action.path)
        if node is not None and node.kind == "dir":
            return  # created by an earlier action of the same step
        assert action.mode is not None and action.uid is not None and action.gid is not None
        ctx.root.make_dir(action.path, mode=action.mode, uid=action.uid, gid=action.gid)
    elif action.change == UPDATE:
        ctx.root.set_attrs(action.path, mode=action.mode, uid=action.uid, gid=action.gid)
    elif action.change == REMOVE:
        ctx.root.remove_dir(action.path)  # an emptied .wants/ dir, as systemctl disable does


def _run(ctx: RunContext, action: Action) -> None:
    if ctx.dry_run:
        return
    root = ctx.root
    if action.kind == "command":
        if not ctx.can_chroot():
            raise StepError(f"cannot chroot into {root.path} to run: {action.command}")
        argv = ["/bin/sh", "-c", action.command]
        chroot = None if root.is_host_root else root.path
    else:
        import shlex  # live units only

        argv = shlex.split(action.command)
        chroot = None
    done = ctx.runner.run(argv, timeout=ctx.timeout, chroot=chroot, label=action.command)
    action.exit = done.returncode
    action.output = _tail(done.output)
    action.duration, action.timed_out = done.duration, done.timed_out
    if not done.ok:
        raise StepError(f"`{action.command}` failed: {done.describe()}")


def _tail(text: str) -> str:
    if len(text) <= OUTPUT_IN_REPORT:
        return text
    return "[...]\n" + text[-OUTPUT_IN_REPORT:]
