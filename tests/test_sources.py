"""Sources (SPEC §3): default dirs in the root, explicit SOURCEs, `-`,
URLs, and the walk that never opens what is not a regular file."""

from __future__ import annotations

import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from executor import sources as S
from executor.cli import main
from executor.root import Root
from tests.conftest import make_tree

WRITE = "stages:\n  {stage}:\n  - files: [{{path: {path}, content: {content}}}]\n"


def write(path: str, content: str = "x", stage: str = "boot") -> str:
    return WRITE.format(stage=stage, path=path, content=content)


def kept_report(root: Path, stage: str) -> Any:
    return json.loads((root / "run/stage-executor" / f"{stage}.json").read_text())


# -- the walk -------------------------------------------------------------------------


TREE = {
    "/oem/b.yml": write("/etc/b"),
    "/oem/a.yaml": write("/etc/a"),
    "/oem/a-b.yaml": write("/etc/ab"),
    "/oem/a/x.yaml": write("/etc/ax"),
    "/oem/sub/deeper/z.yaml": write("/etc/z"),
    "/oem/notes.txt": "not a config",
    "/oem/README": "neither",
}
LEXICAL = ["/oem/a-b.yaml", "/oem/a.yaml", "/oem/a/x.yaml", "/oem/b.yml", "/oem/sub/deeper/z.yaml"]


def test_root_dir_is_read_recursively_in_lexical_order_of_the_full_path(tmp_path: Path) -> None:
    root = make_tree(tmp_path, TREE)
    group = S.read_root_dir(Root(str(root)), "/oem")
    assert [d.name for d in group.documents] == LEXICAL
    assert sorted(LEXICAL) == LEXICAL  # '-' < '.' < '/' byte order, not walk order
    assert group.problems == []


def test_host_dir_is_read_in_the_same_order(tmp_path: Path) -> None:
    make_tree(tmp_path, TREE)
    group = S.read_host_source(str(tmp_path / "oem"))
    assert [d.source for d in group.documents] == [str(tmp_path) + p for p in LEXICAL]


def test_special_files_are_skipped_with_a_warning_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree(tmp_path, {"/oem/50_good.yaml": write("/etc/good")})
    os.mkfifo(root / "oem/10_fifo.yaml")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "oem/20_socket.yaml"))
    os.symlink("/nowhere", root / "oem/30_dangling.yaml")
    os.symlink("/oem/10_fifo.yaml", root / "oem/40_link_to_fifo.yaml")
    try:
        os.mknod(root / "oem/15_device.yml", 0o600 | 0o020000, os.makedev(1, 3))
        devices = ["/oem/15_device.yml"]
    except PermissionError:
        devices = []
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    for group in (S.read_root_dir(Root(str(root)), "/oem"), S.read_host_source(str(root / "oem"))):
        assert [Path(d.name).name for d in group.documents] == ["50_good.yaml"]
        messages = {Path(p.source).name: p.message for p in group.problems}
        assert all(p.severity == "warning" for p in group.problems)
        skipped = ["10_fifo.yaml", "20_socket.yaml", "30_dangling.yaml", "40_link_to_fifo.yaml"]
        assert sorted(messages) == sorted(skipped + [Path(d).name for d in devices])
        assert "never opened" in messages["10_fifo.yaml"]
        assert "dangling" in messages["30_dangling.yaml"]
    sock.close()
    assert not [p for p in opened if "fifo" in p or "socket" in p or "device" in p]


@pytest.mark.subprocess
def test_a_fifo_in_oem_does_not_hang_the_run(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", {"/oem/90_good.yaml": write("/etc/good")})
    os.mkfifo(root / "oem/10_fifo.yaml")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "executor",
            "run-stage",
            "boot",
            "--root",
            str(root),
            "--no-cmdline",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/oem/10_fifo.yaml: warning: skipped: not a regular file" in done.stdout
    assert (root / "etc/good").read_text() == "x"


def test_symlinked_directories_are_walked_once(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"/oem/a.yaml": write("/etc/a"), "/oem/d/b.yaml": write("/b")})
    os.symlink("/oem", root / "oem/loop")
    os.symlink("..", root / "oem/d/up")
    group = S.read_root_dir(Root(str(root)), "/oem")
    assert sorted(d.name for d in group.documents) == ["/oem/a.yaml", "/oem/d/b.yaml"]
    host = S.read_host_source(str(root / "oem"))
    assert len(host.documents) == 2


def test_a_link_in_the_root_resolves_inside_the_root(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "host", {"/etc/evil.yaml": write("/etc/pwned")})
    root = make_tree(tmp_path / "root", {"/etc/in-root.yaml": write("/etc/fine")})
    os.symlink(str(outside / "etc/evil.yaml"), root / "oem-target")
    (root / "oem").mkdir()
    os.symlink(str(outside / "etc/evil.yaml"), root / "oem/10_host_path.yaml")
    os.symlink("/etc/in-root.yaml", root / "oem/20_root_path.yaml")
    group = S.read_root_dir(Root(str(root)), "/oem")
    assert [d.name for d in group.documents] == ["/oem/20_root_path.yaml"]
    assert "/etc/fine" in group.documents[0].text
    assert [p.source for p in group.problems] == ["/oem/10_host_path.yaml"]


# -- default dirs, explicit sources, rescans ---------------------------------------------


def test_default_dirs_run_in_kairos_order_and_each_substage_over_all(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "/usr/local/cloud-config/a.yaml": (
                "name: ucc\nstages:\n  boot.before:\n  - files: [{path: /etc/3, content: x}]\n"
            ),
            "/oem/z.yaml": (
                "name: oem\nstages:\n  boot.before:\n  - files: [{path: /etc/2, content: x}]\n"
                "  boot:\n  - files: [{path: /etc/4, content: x}]\n"
            ),
            "/system/oem/z.yaml": (
                "name: sys\nstages:\n  boot.before:\n  - files: [{path: /etc/1, content: x}]\n"
                "  boot.after:\n  - files: [{path: /etc/5, content: x}]\n"
            ),
        },
    )
    assert main(["run-stage", "boot", "--root", str(root), "--no-cmdline"]) == 0
    steps = kept_report(root, "boot")["steps"]
    assert [(s["stage"], s["full_name"]) for s in steps] == [
        ("boot.before", "sys.0"),
        ("boot.before", "oem.0"),
        ("boot.before", "ucc.0"),
        ("boot", "oem.0"),
        ("boot.after", "sys.0"),
    ]


def test_explicit_sources_replace_the_default_dirs(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", {"/oem/a.yaml": write("/etc/from-oem")})
    src = make_tree(tmp_path / "src", {"b.yaml": write("/etc/from-arg")})
    assert (
        main(["run-stage", "boot", str(src / "b.yaml"), "--root", str(root), "--no-cmdline"]) == 0
    )
    assert (root / "etc/from-arg").exists()
    assert not (root / "etc/from-oem").exists()


def test_a_file_written_by_a_before_step_takes_part_in_the_next_substage(tmp_path: Path) -> None:
    # kairos-agent walks the dirs again for every substage: userdata pulled
    # into /oem by `boot.before` has its `boot` steps run in the same run.
    userdata = "stages:\n  boot:\n  - files: [{path: /etc/from-userdata, content: u}]\n"
    root = make_tree(
        tmp_path,
        {
            "/oem/00_datasource.yaml": (
                "name: ds\nstages:\n  boot.before:\n  - files:\n    - path: /oem/95_userdata.yaml\n"
                f"      content: {json.dumps(userdata)}\n"
            ),
        },
    )
    args = ["run-stage", "boot", "--root", str(root), "--no-cmdline"]
    assert main([*args, "--dry-run"]) == 0
    assert not (root / "oem/95_userdata.yaml").exists()
    assert main(args) == 0
    assert (root / "etc/from-userdata").read_text() == "u"
    steps = kept_report(root, "boot")["steps"]
    assert [s["full_name"] for s in steps] == ["ds.0", "/oem/95_userdata.yaml.0"]


def test_dry_run_sees_the_planned_userdata_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    userdata = "stages:\n  boot:\n  - files: [{path: /etc/from-userdata, content: u}]\n"
    root = make_tree(
        tmp_path,
        {
            "/oem/00_datasource.yaml": (
                "stages:\n  boot.before:\n  - files:\n    - path: /oem/95_userdata.yaml\n"
                f"      content: {json.dumps(userdata)}\n"
            ),
        },
    )
    assert main(["run-stage", "boot", "--root", str(root), "--no-cmdline", "--dry-run"]) == 0
    assert "+ planned [boot] /oem/95_userdata.yaml.0" in capsys.readouterr().out


# -- stdin ---------------------------------------------------------------------------------


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_dash_reads_one_document_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(write("/etc/stdin", "in").encode()))
    root = tmp_path / "root"
    root.mkdir()
    assert main(["apply", "-s", "boot", "-", "--root", str(root), "--no-cmdline"]) == 0
    assert (root / "etc/stdin").read_text() == "in"
    assert "[boot] <STDIN>.0" in capsys.readouterr().out


def test_stdin_twice_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["apply", "-s", "boot", "-", "-", "--root", str(tmp_path)]) == 2


def test_bad_yaml_on_stdin_is_positioned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b"stages:\n  boot: [\n"))
    assert main(["apply", "-s", "boot", "-", "--root", str(tmp_path), "--no-cmdline"]) == 1
    assert "<STDIN>:2:10: error: YAML syntax" in capsys.readouterr().out


# -- URLs ----------------------------------------------------------------------------------


class _Server:
    """A local HTTP server answering from a list of (status, body), then repeating the last."""

    def __init__(self, answers: list[tuple[int, bytes]]) -> None:
        self.answers = answers
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                status, body = outer.answers[min(len(outer.requests), len(outer.answers)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_url_source_runs_and_names_its_steps_by_the_url(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with _Server([(200, write("/etc/fetched", "ok").encode())]) as server:
        url = server.url + "/config.yaml"
        assert main(["apply", "-s", "boot", url, "--root", str(root), "--no-cmdline"]) == 0
    assert (root / "etc/fetched").read_text() == "ok"
    step = kept_report(root, "boot")["steps"][0]
    assert (step["source"], step["full_name"]) == (url, url + ".0")


def test_server_errors_are_retried_and_client_errors_are_not(tmp_path: Path) -> None:
    good = write("/etc/x").encode()
    with _Server([(503, b"busy"), (200, good)]) as server:
        group = S.read_url(server.url + "/a", timeout=5, backoff=0.01)
        assert len(server.requests) == 2 and group.documents and not group.problems
    with _Server([(404, b"nope")]) as server:
        group = S.read_url(server.url + "/b", timeout=5, backoff=0.01)
        assert len(server.requests) == 1
        assert group.problems[0].message == "cannot fetch: HTTP 404 Not Found"
        assert group.problems[0].source == server.url + "/b"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_url_on_a_closed_port_fails_within_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/config.yaml"
    start = time.monotonic()
    code = main(
        ["apply", "-s", "boot", url, "--root", str(tmp_path), "--no-cmdline", "--timeout", "2"]
    )
    elapsed = time.monotonic() - start
    assert code == 1
    out = capsys.readouterr().out
    assert f"{url}: error: cannot fetch:" in out and "gave up after 3 attempts" in out
    # bounded by the attempts, each with its timeout, plus the back-off pauses
    assert elapsed < S.URL_ATTEMPTS * 2 + 2 * S.URL_BACKOFF * S.URL_ATTEMPTS


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/config.yaml"


def test_a_server_that_never_answers_fails_within_the_timeout(black_hole: str) -> None:
    start = time.monotonic()
    group = S.read_url(black_hole, timeout=0.5, attempts=2, backoff=0.1)
    elapsed = time.monotonic() - start
    assert not group.documents
    assert "timed out" in group.problems[0].message
    assert elapsed < 2 * 0.5 + 0.1 + 3  # two attempts, one pause, slack for a loaded machine


def test_only_http_and_https_urls_are_sources(tmp_path: Path) -> None:
    group = S.read_source_arg("ftp://example.com/x.yaml")
    assert group.problems[0].message.startswith("unsupported URL scheme")


# -- text encodings ------------------------------------------------------------------

CONFIG_BYTES = 'stages:\n  boot:\n    - files: [{path: /x, content: "h\u00e9"}]\n'.encode()


def test_a_byte_that_is_not_utf8_is_an_error_at_its_position(tmp_path: Path) -> None:
    """Never replaced with U+FFFD (that would change what is written to disk)."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(CONFIG_BYTES.replace(b"h\xc3\xa9", b"h\xe9"))
    ok = tmp_path / "ok.yaml"
    ok.write_bytes(CONFIG_BYTES)
    group = S.read_host_source(str(tmp_path))
    assert [d.name for d in group.documents] == [str(ok)]
    (problem,) = group.problems
    assert problem.format() == (
        f"{bad}:3:37: error: byte 0xe9 is not valid UTF-8; the config must be UTF-8 text"
    )


def test_utf16_with_a_byte_order_mark_is_read_as_yip_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_bytes(CONFIG_BYTES.decode().encode("utf-16"))
    group = S.read_host_source(str(path))
    assert not group.problems and group.documents[0].text == CONFIG_BYTES.decode()


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_named(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "wide.yaml"
    path.write_bytes(CONFIG_BYTES.decode().encode(codec))
    group = S.read_host_source(str(path))
    assert not group.documents
    (problem,) = group.problems
    assert problem.format() == (
        f"{path}:1:1: error: looks like UTF-16 without a byte-order mark; save it as UTF-8"
    )


def test_stdin_that_is_not_utf8_is_refused() -> None:
    group = S.read_stdin(io.BytesIO(b"stages:\n  boot: []\n# \xff\n"))
    assert not group.documents
    assert group.problems[0].format().startswith("<STDIN>:3:3: error: byte 0xff")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_that_does_not_decode_names_its_line_and_column(tmp_path: Path, codec: str) -> None:
    # A lone high surrogate after "bc: x" on line 2: the column counts characters
    # of the decoded text, not bytes of the UTF-16 file read as UTF-8.
    surrogate = b"\x00\xd8" if codec == "utf-16-le" else b"\xd8\x00"
    bom = b"\xff\xfe" if codec == "utf-16-le" else b"\xfe\xff"
    path = tmp_path / "wide.yaml"
    path.write_bytes(bom + "a: \u00e9\u00e9\nbc: x".encode(codec) + surrogate + "y\n".encode(codec))
    group = S.read_host_source(str(path))
    assert not group.documents
    (problem,) = group.problems
    assert problem.format() == (
        f"{path}:2:6: error: is UTF-16 (it starts with a byte-order mark) but does not decode"
        " as UTF-16"
    )
