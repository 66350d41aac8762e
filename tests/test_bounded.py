"""Bounded time and space: nothing a config or a source contains can hang the
boot, exhaust memory or crash the interpreter.

Commands and shell conditions run under a timeout that kills the whole tree;
FIFOs, sockets and devices among the sources are never opened; huge, deep
and self-multiplying YAML documents are refused with a positioned error
while every other document still runs. The hostile documents run in a child
process: a regression that segfaults or hangs fails the test (timeout)
instead of taking pytest down with it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from executor.compose import MAX_DEPTH, MAX_NODES, MAX_TEXT
from executor.load import load_text
from executor.runner import Runner, kill_tree
from executor.sources import MAX_SOURCE_BYTES
from tests.conftest import make_tree

REPO = Path(__file__).resolve().parent.parent
GUARD = 120  # seconds: a child still running then has hung, and the test fails

GOOD = """name: good
stages:
  boot:
    - name: still runs
      files:
        - path: /good
          content: ok
"""


def executor(*args: str, guard: float = GUARD) -> subprocess.CompletedProcess[str]:
    """`python3 -m executor ARGS` from this checkout, its peak RSS on stderr."""
    code = (
        "import resource, sys\n"
        "from executor.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "sys.stderr.write(f'MAXRSS_KB {kb}\\n')\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=guard,
    )


def max_rss_mb(done: subprocess.CompletedProcess[str]) -> float:
    match = re.search(r"MAXRSS_KB (\d+)", done.stderr)
    assert match, done.stderr
    return int(match.group(1)) / 1024


def gone(pid: int) -> bool:
    """True when `pid` has ended (a zombie waiting for a reaper counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for_pid(path: Path, limit: float = 10.0) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.02)
    raise AssertionError(f"{path} never got a pid")


def install_binaries(root: Path, *paths: str) -> Path:
    """Copy host binaries and the libraries ldd names into `root`, so that
    commands and shell conditions can run chrooted there."""
    for path in paths:
        wanted = {path, os.path.realpath(path)}
        out = subprocess.run(["ldd", os.path.realpath(path)], capture_output=True, text=True)
        wanted |= {tok for tok in out.stdout.split() if tok.startswith("/")}
        for item in wanted:
            dest = root / item.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                shutil.copy2(os.path.realpath(item), dest)
    # dash gives background jobs /dev/null as stdin
    (root / "dev").mkdir(exist_ok=True)
    try:
        os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        (root / "dev/null").write_bytes(b"")
    return root


# -- the runner ------------------------------------------------------------------


@pytest.mark.subprocess
def test_timeout_kills_the_group_and_a_grandchild_that_setsid_away(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 1000' & sleep 1000"
    # 3 s: long enough for the grandchild to write its pid on a loaded machine
    done = Runner().run(["/bin/sh", "-c", script], timeout=3.0)
    assert done.timed_out and not done.ok
    assert "timed out" in done.describe()
    grandchild = wait_for_pid(pid_file)
    assert gone(grandchild)


@pytest.mark.subprocess
def test_timeout_kills_a_daemon_that_double_forked_out_of_the_tree(tmp_path: Path) -> None:
    # The subshell exits at once: the daemon is reparented and is neither in
    # the process group nor a descendant. Only the job token finds it.
    pid_file = tmp_path / "daemon.pid"
    script = f"(setsid sh -c 'echo $$ > {pid_file}; exec sleep 1000' &); sleep 1000"
    # 3 s: long enough for the grandchild to write its pid on a loaded machine
    done = Runner().run(["/bin/sh", "-c", script], timeout=3.0)
    assert done.timed_out
    assert gone(wait_for_pid(pid_file))


@pytest.mark.subprocess
def test_without_the_job_token_such_a_daemon_survives(tmp_path: Path) -> None:
    # The control for the test above: the group kill and the descendant walk
    # alone miss the daemon, so the token is what kills it.
    pid_file = tmp_path / "daemon.pid"
    script = f"(setsid sh -c 'echo $$ > {pid_file}; exec sleep 1000' &); sleep 1000"
    proc = subprocess.Popen(["/bin/sh", "-c", script], start_new_session=True)
    daemon = wait_for_pid(pid_file)
    try:
        kill_tree(proc.pid)
        proc.wait(timeout=10)
        assert not gone(daemon)
    finally:
        os.kill(daemon, 9)


@pytest.mark.subprocess
def test_a_nul_byte_in_a_command_is_a_failed_start_not_a_crash() -> None:
    done = Runner().run(["/bin/sh", "-c", "echo a\0b"], timeout=5)
    assert done.returncode == 127 and not done.ok
    assert "null" in done.output


# -- commands and shell conditions in a real run ------------------------------------


@pytest.mark.subprocess
def test_a_timed_out_command_fails_its_step_and_the_next_step_runs(tmp_path: Path) -> None:
    root = install_binaries(tmp_path / "root", "/bin/sh", "/usr/bin/sleep", "/usr/bin/setsid")
    config = tmp_path / "hang.yaml"
    config.write_text(
        "stages:\n"
        "  boot:\n"
        "    - name: hangs\n"
        "      commands:\n"
        "        - setsid sh -c 'echo $$ > /grandchild.pid; exec sleep 1000' & sleep 1000\n"
        "    - name: after\n"
        "      files: [{path: /after, content: ran}]\n"
    )
    done = executor(
        "apply", "-s", "boot", str(config), "--root", str(root), "--timeout", "1", "--json"
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    steps = {s["name"]: s for s in json.loads(done.stdout)["steps"]}
    assert steps["hangs"]["status"] == "failed"
    assert "timed out" in steps["hangs"]["reason"]
    assert steps["after"]["status"] == "applied"
    assert (root / "after").read_text() == "ran"
    assert gone(wait_for_pid(root / "grandchild.pid"))


@pytest.mark.subprocess
def test_a_timed_out_shell_condition_fails_its_step_and_the_next_step_runs(
    tmp_path: Path,
) -> None:
    root = install_binaries(tmp_path / "root", "/bin/sh", "/usr/bin/sleep")
    config = tmp_path / "cond.yaml"
    config.write_text(
        "stages:\n"
        "  boot:\n"
        "    - name: slow condition\n"
        "      if: sleep 1000\n"  # not in the native subset: runs in /bin/sh
        "      files: [{path: /never, content: x}]\n"
        "    - name: after\n"
        "      files: [{path: /after, content: ran}]\n"
    )
    done = executor(
        "apply", "-s", "boot", str(config), "--root", str(root), "--timeout", "1", "--json"
    )
    assert done.returncode == 1, done.stderr
    steps = {s["name"]: s for s in json.loads(done.stdout)["steps"]}
    assert steps["slow condition"]["status"] == "failed"
    assert "timed out" in steps["slow condition"]["reason"]
    assert not (root / "never").exists()
    assert steps["after"]["status"] == "applied"
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] == ["sleep", "1000"] and not gone(p.pid)
    ]


# -- sources that are not regular files --------------------------------------------


def special_files(directory: Path) -> list[Path]:
    """A FIFO, a socket, a character device and a link to /dev/zero, all named *.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    os.mkfifo(directory / "fifo.yaml")
    made.append(directory / "fifo.yaml")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.fspath(directory / "socket.yaml"))
    sock.close()
    made.append(directory / "socket.yaml")
    try:
        os.mknod(directory / "zero.yaml", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        made.append(directory / "zero.yaml")
    except PermissionError:  # no CAP_MKNOD here: the link below still is a device
        pass
    os.symlink("/dev/zero", directory / "devzero.yaml")
    made.append(directory / "devzero.yaml")
    return made


@pytest.mark.subprocess
def test_fifos_sockets_and_devices_in_the_roots_config_dirs_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_tree(root, {"/oem/zz-good.yaml": GOOD})
    specials = special_files(root / "oem")
    done = executor("run-stage", "boot", "--root", str(root), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    warned = {w["source"]: w["message"] for w in report["warnings"]}
    for special in specials:
        assert f"/oem/{special.name}" in warned  # the link to /dev/zero dangles in the root
    assert (root / "good").read_text() == "ok"


@pytest.mark.subprocess
def test_fifos_and_devices_given_or_found_on_the_host_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    srcs = make_tree(tmp_path / "src", {"zz-good.yaml": GOOD})
    specials = special_files(srcs)
    done = executor(
        "apply",
        "-s",
        "boot",
        "--root",
        str(root),
        "--json",
        str(srcs),
        str(specials[0]),
        "/dev/zero",
    )
    assert done.returncode == 0, done.stderr
    warned = [w["source"] for w in json.loads(done.stdout)["warnings"]]
    for special in specials:
        assert str(special) in warned
    assert "/dev/zero" in warned
    assert (root / "good").read_text() == "ok"


# -- huge, deep and self-multiplying documents --------------------------------------


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
        prev = name
    lines += ["stages:", "  boot:", "    - name: lol", "      layout: *i"]
    return "\n".join(lines) + "\n"


def merge_key_bomb() -> str:
    # Each level merges the previous one ten times: 10**9 merges if expanded.
    lines = ["m0: &m0 {k: v}"]
    for i in range(1, 10):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}")
    lines += ["stages:", "  boot:", "    - files:", "        - <<: *m9", "          path: /x"]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "deep-flow-10k.yaml": "stages: {boot: [{files: " + "[" * 10_000 + "]" * 10_000 + "}]}\n",
    # block nesting costs one more column a level: 5,000 levels is 12.5 MB
    "deep-block-5k.yaml": "stages:\n  boot:\n"
    + "".join(" " * (i + 2) + "-\n" for i in range(5_000)),
    "deep-flow-1m.yaml": "[" * 1_000_000 + "]" * 1_000_000 + "\n",
    "billion-laughs.yaml": billion_laughs(),
    "merge-key-bomb.yaml": merge_key_bomb(),
    "self-anchor.yaml": "stages:\n  boot:\n    - &s {name: a, <<: *s}\n",
    "self-alias-list.yaml": "stages:\n  boot: &b [{name: a}, *b]\n",
    "wide-list-10mb.yaml": "stages:\n  boot:\n    - commands: [" + "a," * 5_000_000 + "a]\n",
}
# what each must be refused for
REFUSALS = {
    "deep-flow-10k.yaml": f"nesting deeper than {MAX_DEPTH}",
    "deep-block-5k.yaml": f"nesting deeper than {MAX_DEPTH}",
    "deep-flow-1m.yaml": f"nesting deeper than {MAX_DEPTH}",
    "billion-laughs.yaml": "",  # how far it expands depends on the type of `layout`
    "merge-key-bomb.yaml": f"more than {MAX_NODES} nodes",
    "self-anchor.yaml": "",  # PyYAML: found recursive anchor, or our depth guard
    "self-alias-list.yaml": "",
    "wide-list-10mb.yaml": f"more than {MAX_NODES} nodes",
}


@pytest.mark.subprocess
def test_hostile_documents_are_refused_and_the_others_still_run(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    srcs = make_tree(tmp_path / "src", {**HOSTILE, "zz-good.yaml": GOOD})
    with open(srcs / "huge-50mb.yaml", "w") as fh:  # past the size limit
        fh.write("stages:\n  boot:\n    - files:\n        - path: /huge\n          content: ")
        fh.write("x" * (50 << 20))
    start = time.monotonic()
    done = executor("apply", "-s", "boot", "--root", str(root), "--json", str(srcs))
    elapsed = time.monotonic() - start
    print(f"hostile documents: {elapsed:.2f}s, peak RSS {max_rss_mb(done):.0f} MiB")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    errors: dict[str, list[str]] = {}
    for err in report["errors"]:
        errors.setdefault(os.path.basename(err["source"]), []).append(err["message"])
    for name, why in REFUSALS.items():
        assert name in errors, f"{name} was not refused"
        assert any(why in message for message in errors[name]), errors[name]
    assert any("larger than" in m for m in errors["huge-50mb.yaml"])
    positioned = [e for e in report["errors"] if e["source"].endswith("deep-flow-1m.yaml")]
    # Where the guard stops: our depth check, or (PyYAML >= 6.0.4) libyaml's
    # own 1,000-level limit, which its scanner can hit first on a flow document.
    assert positioned[0]["line"] == 1 and positioned[0]["column"] in (MAX_DEPTH + 1, 1001)
    assert [s["name"] for s in report["steps"]] == ["still runs"]
    assert (root / "good").read_text() == "ok"
    assert not (root / "huge").exists()
    # A bound, not a speed target: the 50 MB file is never read and no
    # document is composed past MAX_NODES. The old loader took 1.5 GB for
    # the 10 MB list alone.
    assert max_rss_mb(done) < 400


def test_the_size_limits_agree() -> None:
    assert MAX_TEXT == MAX_SOURCE_BYTES


def test_a_text_past_the_limit_is_refused_without_parsing() -> None:
    result = load_text("#" * (MAX_TEXT + 1), "huge")
    assert result.config is None
    assert "refused" in result.problems[0].message


def test_a_large_scalar_under_the_limit_is_handled(tmp_path: Path) -> None:
    content = "y" * (12 << 20)
    result = load_text(
        f"stages:\n  boot:\n    - files:\n        - path: /big\n          content: {content}\n",
        "big",
    )
    assert result.ok
    assert result.config is not None
    assert result.config.stages["boot"][0].files[0].content == content


def test_nesting_up_to_the_limit_is_accepted() -> None:
    depth = MAX_DEPTH - 6  # stages, boot, step list, step, environment, the value
    value = "[" * depth + "]" * depth
    result = load_text(f"stages:\n  boot:\n    - name: deep\n      x-data: {value}\n", "deep")
    assert not [p for p in result.problems if "nesting" in p.message]


def test_alias_expansion_is_bounded_whatever_the_schema() -> None:
    from executor import schema
    from executor.compose import compose_bounded
    from executor.convert import Converter, TooLarge

    node = compose_bounded(billion_laughs())
    assert node is not None
    with pytest.raises(TooLarge):
        Converter("lol").convert(node, schema.ANY, "")


# -- directory walks: loops neither repeat nor multiply documents ---------------------


def test_symlink_loops_in_the_roots_config_dir_read_each_document_once(tmp_path: Path) -> None:
    from executor.root import Root
    from executor.sources import read_root_dir

    root = make_tree(tmp_path / "root", {"/oem/a.yaml": GOOD, "/oem/a/b.yaml": GOOD})
    for i in range(4):  # 4 links back up: 4**40 paths if each were entered
        os.symlink("/oem", root / f"oem/a/up{i}")
        os.symlink("..", root / f"oem/a/rel{i}")
    group = read_root_dir(Root(os.fspath(root)), "/oem")
    # once each, in lexical order of the full path ("/oem/a.yaml" < "/oem/a/b.yaml")
    assert [d.name for d in group.documents] == ["/oem/a.yaml", "/oem/a/b.yaml"]


def test_symlink_loops_in_a_host_source_dir_read_each_document_once(tmp_path: Path) -> None:
    from executor.sources import read_host_source

    src = make_tree(tmp_path / "src", {"a.yaml": GOOD, "sub/b.yaml": GOOD})
    for i in range(4):
        os.symlink("..", src / f"sub/up{i}")
        os.symlink(src, src / f"sub/abs{i}")
    group = read_host_source(os.fspath(src))
    assert sorted(os.path.relpath(d.name, src) for d in group.documents) == ["a.yaml", "sub/b.yaml"]


@pytest.mark.subprocess
def test_yaml_inside_a_value_is_bounded_too(tmp_path: Path) -> None:
    # ensure_entities holds YAML in a string: deep, it crashed the run with a
    # RecursionError traceback; an alias bomb there must not expand either.
    deep = "[" * 5000 + "]" * 5000
    config = tmp_path / "entities.yaml"
    config.write_text(
        "stages:\n  boot:\n"
        f"    - name: deep entity\n      ensure_entities:\n        - entity: '{deep}'\n"
        "    - name: bomb entity\n      ensure_entities:\n        - entity: |\n"
        + "".join("            " + line + "\n" for line in billion_laughs().splitlines()[:9])
        + "            kind: user\n            name: *i\n"
        "    - name: after\n      files: [{path: /after, content: ran}]\n"
    )
    (tmp_path / "root").mkdir()
    done = executor(
        "apply", "-s", "boot", str(config), "--root", str(tmp_path / "root"), "--dry-run", "--json"
    )
    assert "Traceback" not in done.stderr, done.stderr
    steps = {s["name"]: s for s in json.loads(done.stdout)["steps"]}
    assert steps["deep entity"]["status"] == "failed"
    assert f"deeper than {MAX_DEPTH}" in steps["deep entity"]["reason"]
    assert steps["bomb entity"]["status"] == "failed"
    assert f"more than {MAX_NODES} nodes" in steps["bomb entity"]["reason"]
    assert steps["after"]["status"] == "planned"
