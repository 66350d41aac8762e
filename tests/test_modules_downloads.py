"""downloads: fetched from a local HTTP server into the root, atomically, with
mode and owner; TLS verification is on; a dry-run fetches nothing."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from executor import fetch
from tests.conftest import have
from tests.modhelp import run_config, tree

BODY = b"#!/bin/sh\necho downloaded\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Handler.hits.append(self.path)
        if self.path.startswith("/files/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.hits = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "BACKOFF", 0.0)


def config(url: str, path: str, extra: str = "") -> str:
    return (
        f"stages:\n  test:\n    - downloads:\n        - url: {url}\n          path: {path}\n{extra}"
    )


def test_download_is_written_with_mode_and_owner(tmp_path: Path, server: str) -> None:
    root = tree(
        tmp_path / "r",
        {"/etc/passwd": "svc:x:1234:4321::/:/bin/sh\n", "/etc/group": "svc:x:4321:\n"},
    )
    run = run_config(
        root,
        config(
            f"{server}/files/tool.sh",
            "/usr/local/bin/tool",
            "          permissions: 0755\n          ownerstring: svc\n",
        ),
    )
    assert run.statuses == ["applied"], run.reasons()
    st = (root / "usr/local/bin/tool").stat()
    assert (root / "usr/local/bin/tool").read_bytes() == BODY
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o755, 1234, 4321)
    again = run_config(
        root,
        config(
            f"{server}/files/tool.sh",
            "/usr/local/bin/tool",
            "          permissions: 0755\n          ownerstring: svc\n",
        ),
    )
    assert again.statuses == ["unchanged"]


def test_a_directory_path_gets_the_urls_file_name(tmp_path: Path, server: str) -> None:
    root = tree(tmp_path / "r", {"/opt/keep": ""})
    run_config(root, config(f"{server}/files/agent.tar?x=1", "/opt"))
    assert (root / "opt/agent.tar").read_bytes() == BODY


def test_a_dry_run_fetches_nothing(tmp_path: Path, server: str) -> None:
    root = tree(tmp_path / "r", {})
    run = run_config(root, config(f"{server}/files/x", "/x"), dry_run=True)
    assert run.statuses == ["planned"] and _Handler.hits == []
    (action,) = run.actions()[0]
    assert action["change"] == "create" and "not fetched in a dry-run" in action["detail"]
    assert not (root / "x").exists()


def test_a_failed_download_fails_the_step_and_writes_nothing(tmp_path: Path, server: str) -> None:
    root = tree(tmp_path / "r", {})
    run = run_config(root, config(f"{server}/missing", "/x"))
    assert run.statuses == ["failed"] and "HTTP 404" in run.reasons()
    assert _Handler.hits == ["/missing"]  # a 4xx is not retried
    assert not (root / "x").exists()


def test_unreachable_hosts_are_retried_a_bounded_number_of_times(tmp_path: Path) -> None:
    run = run_config(tree(tmp_path / "r", {}), config("http://127.0.0.1:9/x", "/x"))
    assert run.statuses == ["failed"] and "cannot fetch http://127.0.0.1:9/x" in run.reasons()


@pytest.mark.subprocess
@pytest.mark.skipif(not have("openssl"), reason="openssl is not installed")
def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/files/x"
        run = run_config(tree(tmp_path / "r", {}), config(url, "/x"))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert run.statuses == ["failed"] and "CERTIFICATE_VERIFY_FAILED" in run.reasons()


@pytest.mark.parametrize(
    ("url", "path", "message"),
    [
        ("ftp://example.com/x", "/x", "is not an http(s) URL"),
        ("https://example.com/x", "relative", "is not an absolute path"),
    ],
)
def test_bad_specs_fail(tmp_path: Path, url: str, path: str, message: str) -> None:
    run = run_config(tree(tmp_path / "r", {}), config(url, path))
    assert run.statuses == ["failed"] and message in run.reasons()


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("github:someone", "https://github.com/someone.keys"),
        ("gitlab:someone", "https://gitlab.com/someone.keys"),
        ("https://example.com/k.pub", "https://example.com/k.pub"),
        ("ssh-ed25519 AAAA user@host", None),
        ("ecdsa-sha2-nistp256:not-a-url", None),
    ],
)
def test_key_urls(key: str, url: str | None) -> None:
    assert fetch.key_url(key) == url


def test_the_error_counts_the_attempts_the_deadline_left() -> None:
    # Refused at once; the first back-off (10 s) would end after the deadline
    # (5 s away), so one attempt is made of the four allowed, and said.
    deadline = time.monotonic() + 5.0
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch("http://127.0.0.1:9/x", retries=3, backoff=10.0, deadline=deadline)
    assert caught.value.exhausted and caught.value.attempts == 1


def test_the_error_counts_every_attempt_when_all_are_made() -> None:
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch("http://127.0.0.1:9/x", retries=2, backoff=0.0)
    assert caught.value.exhausted and caught.value.attempts == 3
