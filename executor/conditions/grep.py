"""`grep` on files of the root, and `cat FILE... | grep`, with GNU grep's exit status.

Exit status, as GNU grep 3.x gives it (checked on this machine's /usr/bin/grep):
0 when a line is selected, 1 when none is, 2 on an error (a missing or
unreadable file, a directory). With -q a selected line wins over an error in
any other file (grep stops at the first match); without -q an error gives 2
even when another file matched. -s only silences the messages.

Options are the short ones -q -v -i -E -F -x -s (and -G), alone or combined
(`-qiE`), before the operands or after `--`. GNU grep also accepts options
after operands; other greps do not, so that form goes to the shell.
"""

from __future__ import annotations

from executor.conditions.posix_regex import compile_matcher
from executor.conditions.shell import NotNative
from executor.record import dataclass

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from executor.conditions.condfs import CondFS

_FLAGS = set("qviEFxsG")


@dataclass(frozen=True)
class GrepCall:
    pattern: str
    files: tuple[str, ...]
    quiet: bool = False
    invert: bool = False
    ignore_case: bool = False
    whole_line: bool = False
    mode: str = "G"  # G basic, E extended, F fixed strings


def parse_grep_args(args: list[str]) -> GrepCall:
    """Options, pattern and files of a grep command line; NotNative for the rest."""
    flags: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            raise NotNative(f"grep option {arg}")
        unknown = set(arg[1:]) - _FLAGS
        if unknown:
            raise NotNative(f"grep option -{''.join(sorted(unknown))}")
        flags.update(arg[1:])
        i += 1
    operands = args[i:]
    if not operands:
        raise NotNative("grep without a pattern")
    pattern, files = operands[0], tuple(operands[1:])
    if any(f.startswith("-") for f in files):
        raise NotNative("grep operand that looks like an option (GNU grep would take it as one)")
    modes = flags & set("EFG")
    if len(modes) > 1:
        raise NotNative("grep with more than one of -E, -F, -G")
    return GrepCall(
        pattern=pattern,
        files=files,
        quiet="q" in flags,
        invert="v" in flags,
        ignore_case="i" in flags,
        whole_line="x" in flags,
        mode=modes.pop() if modes else "G",
    )


def run_grep(args: list[str], fs: CondFS, stdin: bytes | None = None) -> int:
    """Exit status of `grep ARGS`, reading files through `fs` (or `stdin` without files)."""
    call = parse_grep_args(args)
    matcher = compile_matcher(
        call.pattern, mode=call.mode, ignore_case=call.ignore_case, whole_line=call.whole_line
    )
    if call.pattern == "" and call.invert and not call.whole_line:
        # GNU grep sees that `-v ''` can select nothing and exits 1 without
        # opening any file, so a missing file is no error here.
        return 1
    if not call.files:
        if stdin is None:
            raise NotNative("grep reading the condition's standard input")
        return 0 if matcher.any_line_selected(stdin, invert=call.invert) else 1
    selected = error = False
    for path in call.files:
        data = fs.read(path)
        if data is None:
            error = True
            continue
        if matcher.any_line_selected(data, invert=call.invert):
            selected = True
            if call.quiet:
                return 0
    if error:
        return 2
    return 0 if selected else 1


def run_cat(args: list[str], fs: CondFS) -> bytes:
    """What `cat FILE...` writes to a pipe: the readable files, concatenated."""
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        raise NotNative("cat reading the condition's standard input")
    if any(a.startswith("-") for a in args):
        raise NotNative("cat option or `-`")
    return b"".join(data for path in args if (data := fs.read(path)) is not None)
