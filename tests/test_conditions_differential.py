"""Native `if` evaluation against the real shells, on random trees.

Hypothesis builds a random tree in a fresh directory (empty and non-empty
files, directories, symlinks that resolve, dangle or loop, modes, a file with
NUL bytes, one with non-ASCII bytes) and random conditions in the native
subset (test/[ with every supported operator, -a/-o/!/parentheses, grep with
combined flags and BRE/ERE/fixed patterns over the generated contents, cat |
grep, true/false, !, &&, ||, ( ), newlines, continuations, quoting,
redirections). Every condition is evaluated natively (Root('/'), absolute
paths into the tree) and by `dash -c` and `bash -c` (cwd /, stdin /dev/null,
LC_ALL=C or C.UTF-8); the exit statuses must be equal.

A generated condition may be refused (NotNative) for two reasons only, each
checked against the shells: dash and bash really disagree on a `test`
expression, or a locale-dependent pattern met non-ASCII input.

CI runs COND_EXAMPLES examples (default 150, each with up to 12 conditions,
against both shells). The long run:

    COND_EXAMPLES=5000 python3 -m pytest -s -q tests/test_conditions_differential.py

prints how many conditions were compared.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.conditions import evaluate_if, native
from executor.conditions.condfs import CondFS, RootCondFS, cond_fs_for
from executor.conditions.shell import (
    AndOr,
    Command,
    Group,
    Node,
    NotNative,
    Pipeline,
    parse,
)
from executor.context import RunContext
from executor.root import Root
from executor.runner import Completed, Runner
from tests.conftest import have

EXAMPLES = int(os.environ.get("COND_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("COND_RANDOM") is None,
)
DRIVER = 'for c do {shell} -c -- "$c" </dev/null >/dev/null 2>&1; echo $?; done'
LOCALES = ("C", "C.UTF-8")
STATS: Counter[str] = Counter()

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(not (have("dash") and have("bash")), reason="needs dash and bash"),
]

# -- trees -------------------------------------------------------------------

NAMES = ("a", "b", "c", "d", "e", "f", "g")
LINE_CHARS = "abcAB1 .-/"
FILE_MODES = (0o644, 0o600, 0o000, 0o755, 0o700, 0o111, 0o4755, 0o640, 0o444)
DIR_MODES = (0o755, 0o700, 0o000, 0o311, 0o555)


@dataclass
class Tree:
    """What to create below the base directory, by relative path."""

    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    dirs: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # target, "{base}" expanded

    def names(self) -> list[str]:
        return sorted({*self.files, *self.dirs, *self.links})

    def create(self, base: str) -> None:
        for rel in sorted(self.dirs):
            os.makedirs(os.path.join(base, rel), exist_ok=True)
        for rel, (data, _) in self.files.items():
            with open(os.path.join(base, rel), "wb") as fh:
                fh.write(data)
        for rel, target in self.links.items():
            os.symlink(target.replace("{base}", base), os.path.join(base, rel))
        for rel, (_, mode) in self.files.items():
            os.chmod(os.path.join(base, rel), mode)
        for rel in sorted(self.dirs, reverse=True):
            os.chmod(os.path.join(base, rel), self.dirs[rel])


lines = st.text(alphabet=LINE_CHARS, max_size=6)


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    text = "\n".join(draw(st.lists(lines, max_size=4)))
    if text and draw(st.booleans()):
        text += "\n"
    return text.encode()


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    tree = Tree()
    names = draw(st.lists(st.sampled_from(NAMES), min_size=3, max_size=len(NAMES), unique=True))
    for name in names:
        kind = draw(st.sampled_from(("empty", "text", "text", "text", "dir", "link", "link")))
        if kind == "empty":
            tree.files[name] = (b"", draw(st.sampled_from(FILE_MODES)))
        elif kind == "text":
            tree.files[name] = (draw(contents()), draw(st.sampled_from(FILE_MODES)))
        elif kind == "dir":
            tree.dirs[name] = draw(st.sampled_from(DIR_MODES))
            tree.files[f"{name}/x"] = (draw(contents()), draw(st.sampled_from(FILE_MODES)))
        else:
            other = draw(st.sampled_from(names))
            tree.links[name] = draw(
                st.sampled_from(
                    (
                        other,  # relative, may be itself (a loop) or a link
                        "{base}/" + other,  # absolute
                        f"{other}/x",  # through a directory (or not)
                        "missing",  # dangling
                        "../{base_name}/" + other,
                        "/etc/passwd",  # in a fake root: a path that is not there
                        "../../../../../../etc/passwd",  # `..` stops at the root
                    )
                )
            )
    # Binary and non-ASCII inputs for grep.
    tree.files["bin"] = (b"ab\0AB\n1\0\nx.y\n", 0o644)
    tree.files["utf"] = ("caf\u00e9 a\nb\n".encode() + b"\xff\xfe ab\n", 0o644)
    return tree


# -- conditions ----------------------------------------------------------------


def quote(word: str, style: int) -> str:
    """A shell word for `word`: bare when safe, single- or double-quoted."""
    if style == 0 and word and all(c.isalnum() or c in "/._-" for c in word):
        return word
    if style == 2 and not any(c in word for c in '$`"\\!'):
        return f'"{word}"'
    return shlex.quote(word) if word else "''"


@st.composite
def paths(draw: st.DrawFn, names: list[str]) -> str:
    choice = draw(st.sampled_from([*names, "missing", "bin", "utf", "", "."]))
    if choice == "":
        return ""
    path = "{base}/" + choice if choice != "." else "{base}"
    return path + draw(st.sampled_from(("", "", "", "/", "/.", "/x")))


INTEGERS = ("0", "1", "-1", "2", " 3", "007", "+4", "x", "", "9223372036854775808")
STRINGS = ("", "x", "a b", "X", "1")
FILE_OPS = ("-e", "-f", "-d", "-L", "-h", "-r", "-w", "-x", "-s")
INT_OPS = ("-eq", "-ne", "-lt", "-le", "-gt", "-ge")


@st.composite
def primaries(draw: st.DrawFn, names: list[str]) -> list[str]:
    kind = draw(st.integers(0, 4))
    if kind <= 1:
        return [draw(st.sampled_from(FILE_OPS)), draw(paths(names))]
    if kind == 2:
        return [draw(st.sampled_from(("-n", "-z"))), draw(st.sampled_from(STRINGS))]
    if kind == 3:
        op = draw(st.sampled_from(("=", "!=")))
        return [draw(st.sampled_from(STRINGS)), op, draw(st.sampled_from(STRINGS))]
    return [
        draw(st.sampled_from(INTEGERS)),
        draw(st.sampled_from(INT_OPS)),
        draw(st.sampled_from(INTEGERS)),
    ]


@st.composite
def expressions(draw: st.DrawFn, names: list[str], depth: int = 0) -> list[str]:
    kind = draw(st.integers(0, 5 if depth < 2 else 1))
    if kind <= 1:
        return draw(primaries(names))
    if kind == 2:
        return ["!", *draw(expressions(names, depth + 1))]
    if kind == 3:
        return ["(", *draw(expressions(names, depth + 1)), ")"]
    op = "-a" if kind == 4 else "-o"
    return [*draw(expressions(names, depth + 1)), op, *draw(expressions(names, depth + 1))]


@st.composite
def builtin_commands(draw: st.DrawFn, names: list[str]) -> str:
    args = draw(expressions(names))
    if draw(st.integers(0, 12)) == 0:
        args = draw(st.sampled_from(([], ["x"], [""], ["-e"], ["!"])))  # degenerate forms
    rendered = [a if a in ("(", ")", "!") else quote(a, draw(st.integers(0, 2))) for a in args]
    rendered = [
        {
            "(": draw(st.sampled_from(("'('", "\\(", '"("'))),
            ")": draw(st.sampled_from(("')'", "\\)", '")"'))),
        }.get(a, a)
        for a in rendered
    ]
    if draw(st.booleans()):
        closing = draw(st.sampled_from(("]", "]", "]", "")))  # a missing ] is status 2
        return " ".join(["[", *rendered, closing]).rstrip()
    return " ".join(["test", *rendered])


PATTERN_CHARS = "abAB1 -/"
BRACKETS = (
    "[ab]",
    "[^a]",
    "[a-c]",
    "[A-Z]",
    "[0-9]",
    "[[:digit:]]",
    "[[:upper:]]",
    "[[:space:]]",
    "[[:alpha:][:punct:]]",
    "[]a]",
    "[^]a]",
    "[a-]",
    "[.]",
    "[\\]",
)


@st.composite
def regex_atoms(draw: st.DrawFn, extended: bool) -> tuple[str, bool]:
    """An atom and whether it contains a repetition or a choice."""
    kind = draw(st.integers(0, 9))
    if kind <= 3:
        return draw(st.sampled_from(PATTERN_CHARS)), False
    if kind == 4:
        return ".", False
    if kind == 5:
        return draw(st.sampled_from(("\\.", "\\*", "\\[", "\\$", "\\^", "\\\\"))), False
    if kind == 6:
        return draw(st.sampled_from(BRACKETS)), False
    inner, repeats = draw(regex_sequences(extended, depth=1))
    if not inner:
        return "a", False
    if extended:
        if kind == 9:
            other, _ = draw(regex_sequences(extended, depth=1))
            if other:
                return f"({inner}|{other})", True
        return f"({inner})", repeats
    return f"\\({inner}\\)", repeats


@st.composite
def regex_sequences(draw: st.DrawFn, extended: bool, depth: int = 0) -> tuple[str, bool]:
    parts: list[str] = []
    repeats = False
    for _ in range(draw(st.integers(0 if depth == 0 else 1, 4 - depth))):
        atom, inner_repeats = (
            draw(regex_atoms(extended))
            if depth < 2
            else (draw(st.sampled_from(PATTERN_CHARS)), False)
        )
        if not inner_repeats and draw(st.integers(0, 3)) == 0:
            if extended:
                atom += draw(st.sampled_from(("*", "+", "?", "{1,2}", "{2}", "{0,}")))
            else:
                atom += draw(st.sampled_from(("*", "\\{1,2\\}", "\\{2\\}", "\\{0,\\}")))
            inner_repeats = True
        parts.append(atom)
        repeats = repeats or inner_repeats
    return "".join(parts), repeats


@st.composite
def patterns(draw: st.DrawFn, mode: str) -> str:
    if mode == "F":
        return draw(st.text(alphabet=PATTERN_CHARS + ".*[^$\\", max_size=4))
    extended = mode == "E"
    body, _ = draw(regex_sequences(extended))
    if extended and draw(st.integers(0, 5)) == 0:
        return f"(^| ){body or 'a'}( |$)"
    start = "^" if draw(st.integers(0, 3)) == 0 else ""
    end = "$" if draw(st.integers(0, 3)) == 0 else ""
    return start + body + end


@st.composite
def grep_commands(draw: st.DrawFn, names: list[str]) -> str:
    mode = draw(st.sampled_from(("", "", "E", "F")))
    flags = draw(st.lists(st.sampled_from("qvixs"), unique=True, max_size=4))
    if mode:
        flags.append(mode)
    flags = draw(st.permutations(flags))
    if draw(st.booleans()):
        options = [f"-{''.join(flags)}"] if flags else []
    else:
        options = [f"-{f}" for f in flags]
    pattern = draw(patterns(mode or "G"))
    pat = quote(pattern, draw(st.integers(1, 2)))
    if pattern.startswith("-"):
        options.append("--")
    files = draw(st.lists(paths(names), min_size=1, max_size=3))
    rendered = [quote(f, draw(st.integers(0, 2))) for f in files]
    if draw(st.integers(0, 3)) == 0:
        return " ".join(["cat", *rendered, "|", "grep", *options, pat])
    return " ".join(["grep", *options, pat, *rendered])


@st.composite
def atoms(draw: st.DrawFn, names: list[str]) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        atom = draw(builtin_commands(names))
    elif kind <= 8:
        atom = draw(grep_commands(names))
    else:
        atom = draw(st.sampled_from(("true", "false", ":")))
    redirect = draw(
        st.sampled_from(("", "", "", " 2>/dev/null", " >/dev/null", " 2>&1", " > /dev/null 2>&1"))
    )
    return atom + redirect


@st.composite
def conditions(draw: st.DrawFn, names: list[str], depth: int = 0) -> str:
    kind = draw(st.integers(0, 7 if depth < 3 else 0))
    if kind <= 2:
        return draw(atoms(names))
    if kind == 3:
        return "! " + draw(atoms(names))
    if kind == 4:
        inner = draw(conditions(names, depth + 1))
        # never "((": bash reads that as an arithmetic command
        return draw(st.sampled_from(("( {} )", "! ( {} )", "( {})"))).format(inner)
    left = draw(conditions(names, depth + 1))
    right = draw(conditions(names, depth + 1))
    if kind == 7:
        return left + draw(st.sampled_from(("\n", ";\n", " ; "))) + right
    op = "&&" if kind == 5 else "||"
    return left + draw(st.sampled_from((f" {op} ", f" {op}\n  ", f" \\\n{op} "))) + right


# -- running -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: refused
    reason: str = ""


def evaluate_natively(expr: str, fs: CondFS) -> Outcome:
    try:
        return Outcome(native.evaluate(parse(expr), fs))
    except NotNative as exc:
        return Outcome(None, str(exc))


def shell_statuses(shell: str, exprs: list[str], *, locale: str, chroot: str = "") -> list[int]:
    argv = ["dash", "-c", DRIVER.format(shell=shell), "driver", *exprs]
    if chroot:
        argv = ["chroot", chroot, "/bin/sh", "-c", DRIVER.format(shell="/bin/sh"), "d", *exprs]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": locale}
    done = subprocess.run(
        argv, cwd="/", env=env, capture_output=True, text=True, check=True, timeout=120
    )
    statuses = [int(line) for line in done.stdout.split()]
    assert len(statuses) == len(exprs), done.stderr
    return statuses


def check_against_shells(
    exprs: list[str],
    fs: CondFS,
    *,
    locale: str,
    shells: tuple[str, ...] = ("dash", "bash"),
    chroot: str = "",
) -> None:
    natives = [evaluate_natively(e, fs) for e in exprs]
    results = {sh: shell_statuses(sh, exprs, locale=locale, chroot=chroot) for sh in shells}
    for i, (expr, outcome) in enumerate(zip(exprs, natives, strict=True)):
        seen = {sh: results[sh][i] for sh in shells}
        if outcome.status is None:
            STATS["refused"] += 1
            if "disagree" in outcome.reason:
                assert shells == ("dash",) or shells_disagree_on_a_test(expr, locale), expr
                continue
            assert "non-ASCII input" in outcome.reason and "utf" in expr, (expr, outcome)
            continue
        STATS["native"] += 1
        for sh, status in seen.items():
            assert outcome.status == status, f"{sh}: {expr!r} native {outcome.status} != {status}"
        # and the way a step sees it: decided natively, never by a shell
        cond = evaluate_if(RunContext(root=Root("/"), runner=NoShell()), expr, fs)
        assert (cond.by, cond.result) == ("native", outcome.status == 0), (expr, cond)


class NoShell(Runner):
    """A runner for conditions that must never need one."""

    def run(self, argv: Sequence[str], **_: object) -> Completed:  # type: ignore[override]
        raise AssertionError(f"a subset condition went to the shell: {argv!r}")


def shells_disagree_on_a_test(expr: str, locale: str) -> bool:
    """True when dash and bash really differ on one of the `test`/`[` commands in `expr`."""
    commands: list[str] = []

    def collect(node: Node) -> None:
        if isinstance(node, Command):
            if node.argv[:1] in (("test",), ("[",)):
                commands.append(shlex.join(node.argv))
        elif isinstance(node, Pipeline):
            for command in node.commands:
                collect(command)
        elif isinstance(node, Group):
            collect(node.body)
        elif isinstance(node, AndOr):
            collect(node.first)
            for _, item in node.rest:
                collect(item)
        else:
            for item in node.items:
                collect(item)

    collect(parse(expr))
    dash = shell_statuses("dash", commands, locale=locale)
    bash = shell_statuses("bash", commands, locale=locale)
    return dash != bash


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    print(
        f"\ndifferential: {STATS['native']} conditions equal to dash and bash "
        f"({STATS['refused']} refused as expected); as nobody: {STATS['nobody-native']} "
        f"equal ({STATS['nobody-refused']} refused as expected)"
    )


def make_base() -> str:
    base = tempfile.mkdtemp(prefix="cond-diff-", dir="/tmp")
    os.chmod(base, 0o755)
    return base


def remove_tree(path: str) -> None:
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o755)
    shutil.rmtree(path)


def expand(expr: str, base: str) -> str:
    return expr.replace("{base_name}", os.path.basename(base)).replace("{base}", base)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Tree, list[str], str]:
    tree = draw(trees())
    names = tree.names()
    exprs = draw(st.lists(conditions(names), min_size=1, max_size=12))
    return tree, exprs, draw(st.sampled_from(LOCALES))


@SETTINGS
@given(cases())
def test_native_equals_dash_and_bash(case: tuple[Tree, list[str], str]) -> None:
    tree, exprs, locale = case
    base = make_base()
    try:
        for rel, target in list(tree.links.items()):
            tree.links[rel] = target.replace("{base_name}", os.path.basename(base))
        tree.create(base)
        # cond_fs_for: the direct HostCondFS a run on `/` uses
        check_against_shells(
            [expand(e, base) for e in exprs], cond_fs_for(Root("/")), locale=locale
        )
    finally:
        remove_tree(base)


# -- the same as an unprivileged user (permission bits and owners matter) ----------

NOBODY = 65534
OWNERS = ((0, 0), (NOBODY, NOBODY), (0, NOBODY), (NOBODY, 0))


def run_as_user(uid: int, gid: int, work: Callable[[], None]) -> str:
    """Run `work` in a child process with the given ids; "" or the failure it raised.

    The child's condition counts are added to STATS under "nobody-...".
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read_end)
        message = ""
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            work()
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
        counts = f"ok {STATS['native']} {STATS['refused']}"
        os.write(write_end, (message or counts).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    if not message.startswith("ok "):
        return message or "the child died"
    before_native, before_refused = STATS["native"], STATS["refused"]
    _, native_count, refused_count = message.split()
    STATS["nobody-native"] += int(native_count) - before_native
    STATS["nobody-refused"] += int(refused_count) - before_refused
    return ""


@settings(SETTINGS, max_examples=max(EXAMPLES // 5, 20))
@given(cases(), st.data())
def test_native_equals_dash_and_bash_as_nobody(
    case: tuple[Tree, list[str], str], data: st.DataObject
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create files for another user and drop to it")
    tree, exprs, locale = case
    base = make_base()
    try:
        for rel, target in list(tree.links.items()):
            tree.links[rel] = target.replace("{base_name}", os.path.basename(base))
        tree.create(base)
        for rel in [*tree.files, *tree.dirs]:
            uid, gid = data.draw(st.sampled_from(OWNERS))
            os.chown(os.path.join(base, rel), uid, gid)
        expanded = [expand(e, base) for e in exprs]
        # RootCondFS: resolution component by component, here on the host's tree
        failure = run_as_user(
            NOBODY,
            NOBODY,
            lambda: check_against_shells(expanded, RootCondFS(Root("/")), locale=locale),
        )
        assert not failure, failure
    finally:
        remove_tree(base)


# -- the same in a fake root, against a chrooted dash ----------------------------------


def _copy_with_libs(binary: str, root: Path, dest: str) -> None:
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, target)
    done = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        parts = line.split()
        lib = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if lib.startswith("/"):
            copy = root / lib.lstrip("/")
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib, copy)


@pytest.fixture(scope="module")
def shell_root() -> Iterator[Path]:
    """A minimal root with dash as /bin/sh, grep, cat and /dev/null."""
    if os.geteuid() != 0 or not have("ldd"):
        pytest.skip("chroot needs root and ldd")
    root = Path(tempfile.mkdtemp(prefix="cond-root-", dir="/tmp"))
    os.chmod(root, 0o755)
    for binary, dest in (("dash", "/bin/sh"), ("grep", "/usr/bin/grep"), ("cat", "/bin/cat")):
        found = shutil.which(binary)
        assert found
        _copy_with_libs(os.path.realpath(found), root, dest)
    (root / "dev").mkdir()
    try:
        os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError:
        shutil.rmtree(root)
        pytest.skip("cannot create /dev/null in the fake root")
    yield root
    shutil.rmtree(root)


@settings(SETTINGS, max_examples=max(EXAMPLES // 5, 20))
@given(cases())
def test_native_in_fake_root_equals_chrooted_dash(
    shell_root: Path, case: tuple[Tree, list[str], str]
) -> None:
    tree, exprs, _ = case
    base = "/data"
    host = str(shell_root) + base
    os.mkdir(host)
    try:
        for rel, target in list(tree.links.items()):
            # absolute targets name paths inside the fake root; `..` climbs to it
            tree.links[rel] = target.replace("{base_name}", "data").replace("{base}", base)
        tree.create(host)
        check_against_shells(
            [expand(e, base) for e in exprs],
            RootCondFS(Root(str(shell_root))),
            locale="C",
            shells=("dash",),
            chroot=str(shell_root),
        )
    finally:
        remove_tree(host)
