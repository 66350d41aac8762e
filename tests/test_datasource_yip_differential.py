"""`datasource` against the real yip (../shared/tools/yip): the same metadata,
served to yip at the real link-local address 169.254.169.254 inside a private
network namespace (unshare -n, nothing reaches the host's network) and to us
on 127.0.0.1; yip chrooted in one copy of a root, ours on another; the files
both leave (metadata, user-data, hostname, keys) are compared.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import snapshot
from tests.modhelp import run_config, tree
from tests.test_modules_datasource import AWS, KEY, USERDATA, Metadata
from tests.yip_oracle import YIP

# The real yip, where the shared directory is (tests/conftest.py finds it).
HAVE_YIP = YIP is not None and YIP.is_file()
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(
        os.geteuid() != 0
        or not HAVE_YIP
        or shutil.which("unshare") is None
        or shutil.which("ip") is None,
        reason="needs root, unshare, ip (iproute2) and ../shared/tools/yip",
    ),
]
CONFIG = """stages:
  test:
    - name: Pull data from provider
      datasource:
        providers: [cdrom, PROVIDER, maas]
        path: /oem/95_userdata
"""
GCP = {
    "/computeMetadata/v1/instance/hostname": b"gce-node",
    "/computeMetadata/v1/project/attributes/ssh-keys": f"alice:{KEY}\nbob:ssh-rsa AB b\n".encode(),
    "/computeMetadata/v1/instance/attributes/user-data": USERDATA,
}
DIGITALOCEAN = {
    "/metadata/v1/": b"id\nhostname\n",
    "/metadata/v1/hostname": b"droplet-1",
    "/metadata/v1/region": b"ams3",
    "/metadata/v1/id": b"4242",
    "/metadata/v1/interfaces/public/0/ipv4/address": b"198.51.100.4",
    "/metadata/v1/public-keys": KEY.encode(),
    "/metadata/v1/user-data": b"#cloud-config\n",
}
SERVER = """
import base64, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
table = {k: base64.b64decode(v) for k, v in json.load(open(sys.argv[1])).items()}
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = table.get(self.path)
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")
    def log_message(self, *a):
        pass
HTTPServer(("169.254.169.254", 80), H).serve_forever()
"""


def node(base: Path) -> Path:
    return tree(
        base,
        {
            "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "/etc/group": "root:x:0:\n",
            # yip's resolver reads the chroot's hosts file: GCP's name, to the namespace's address
            "/etc/hosts": "127.0.0.1 localhost\n169.254.169.254 metadata.google.internal\n",
            "/root/.keep": "",
            "/oem/.keep": "",
            "/run/.keep": "",
            "/tmp/.keep": "",
        },
    )


def run_yip(tmp_path: Path, root: Path, table: dict[str, bytes], config: str) -> str:
    assert YIP is not None
    shutil.copy(YIP, root / "yip")
    (root / "cfg.yaml").write_text(config)
    (tmp_path / "table.json").write_text(
        json.dumps({k: base64.b64encode(v).decode() for k, v in table.items()})
    )
    (tmp_path / "server.py").write_text(SERVER)
    script = f"""set -e
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
{sys.executable} {tmp_path}/server.py {tmp_path}/table.json &
for i in $(seq 50); do
  {sys.executable} -c 'import socket; socket.create_connection(("169.254.169.254", 80), 1)' \\
    2>/dev/null && break
  sleep 0.1
done
chroot {root} /yip -s test /cfg.yaml || true
kill $!
"""
    done = subprocess.run(
        ["unshare", "-m", "-p", "-f", "-n", "-u", "--mount-proc", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    os.remove(root / "yip")
    os.remove(root / "cfg.yaml")
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("provider", "table", "count"),
    [
        ("aws", AWS, 10),
        ("gcp", GCP, 7),
        ("digitalocean", DIGITALOCEAN, 10),
    ],
)
def test_a_provider_leaves_the_same_files_as_yip(
    tmp_path: Path, provider: str, table: dict[str, bytes], count: int
) -> None:
    config = CONFIG.replace("PROVIDER", provider)
    theirs, ours = node(tmp_path / "yip"), node(tmp_path / "ours")
    output = run_yip(tmp_path, theirs, table, config)
    server = Metadata(table)
    try:
        os.environ["STAGE_EXECUTOR_METADATA_URL"] = server.url
        run = run_config(ours, config)
    finally:
        del os.environ["STAGE_EXECUTOR_METADATA_URL"]
        server.close()
    assert run.statuses == ["applied"], run.reasons()
    mine, real = written(ours), written(theirs)
    assert real, output
    # The one documented difference (README, "Differences from yip"): a parent
    # directory made for a file gets a search bit for each read bit (0755)
    # where yip gives only the owner's (0744).
    expected = {k: ("dir", "0o755") if v == ("dir", "0o744") else v for k, v in real.items()}
    assert mine == expected, output
    assert len(real) >= count, sorted(real)  # so the comparison is not of nothing


def written(root: Path) -> dict[str, tuple[object, ...]]:
    """kind, mode and content of what a datasource run leaves (not the mtimes)."""
    compared = ("run/config", "oem/95_userdata", "etc/hostname", "root/.ssh")
    out: dict[str, tuple[object, ...]] = {}
    for rel, entry in snapshot(root).items():
        if rel.startswith(compared):
            out[rel] = (entry[0], oct(int(str(entry[1])) & 0o7777), *entry[5:])
    return out


def test_when_nothing_answers_both_fail_the_same_way(tmp_path: Path) -> None:
    config = CONFIG.replace("PROVIDER", "aws")
    theirs, ours = node(tmp_path / "yip"), node(tmp_path / "ours")
    output = run_yip(tmp_path, theirs, {}, config)
    assert "no metadata/userdata found" in output
    server = Metadata({})
    try:
        os.environ["STAGE_EXECUTOR_METADATA_URL"] = server.url
        run = run_config(ours, config)
    finally:
        del os.environ["STAGE_EXECUTOR_METADATA_URL"]
        server.close()
    assert run.statuses == ["failed"]
    assert "no metadata/userdata found" in run.reasons()
    # yip has made /run/config by then; we leave the root as it was.
    assert (theirs / "run/config").is_dir() and not (ours / "run/config").exists()
    assert written(ours) == {} and set(written(theirs)) == {"run/config"}
