"""`datasource` against a metadata server on 127.0.0.1 and ISO images on loop
devices. Every provider's URLs are pointed at the local server with
STAGE_EXECUTOR_METADATA_URL; nothing here leaves the loopback interface.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from executor.actions import RUN
from executor.context import RunContext
from executor.modules import datasource as D
from executor.modules import providers as P
from executor.root import DryRunRoot, Root
from tests.modhelp import run_config, tree

USERDATA = b"#cloud-config\nstages:\n  boot:\n    - commands: [echo hi]\n"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@example"


class Metadata:
    """Answers GET PATH?QUERY from a table; records every request and its headers."""

    def __init__(self, table: dict[str, bytes], headers: dict[str, str] | None = None) -> None:
        self.table = table
        self.headers = headers or {}
        self.seen: list[str] = []
        self.posted: list[tuple[str, bytes]] = []
        meta = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server name
                meta.seen.append(self.path)
                body = meta.table.get(self.path)
                wrong = [
                    k
                    for k, v in meta.headers.items()
                    if self.headers.get(k) != v and not self.path.startswith("/machine")
                ]  # Azure's wire server
                status = 404 if body is None else 403 if wrong else 200
                self.send_response(status)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                if status == 200 and body:
                    self.wfile.write(body)

            def do_POST(self) -> None:  # the http.server name
                length = int(self.headers.get("Content-Length", "0"))
                meta.posted.append((self.path, self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


Serve = Callable[..., Metadata]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    servers: list[Metadata] = []

    def start(table: dict[str, bytes], headers: dict[str, str] | None = None) -> Metadata:
        meta = Metadata(table, headers)
        servers.append(meta)
        monkeypatch.setenv(P.METADATA_URL_ENV, meta.url)
        return meta

    yield start
    for meta in servers:
        meta.close()


def node_root(base: Path) -> Path:
    return tree(
        base,
        {
            "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "/etc/group": "root:x:0:\n",
            "/etc/hosts": "127.0.0.1 localhost\n",
            "/root/.keep": "",
        },
    )


def step(providers: str, path: str = "/oem/95_userdata") -> str:
    return f"""stages:
  test:
    - name: Pull data from provider
      datasource:
        providers: {providers}
        path: {path}
"""


AWS = {
    "/latest/meta-data/hostname": b"ip-10-0-0-7",
    "/latest/meta-data/public-ipv4": b"203.0.113.7",
    "/latest/meta-data/instance-id": b"i-0abc",
    "/latest/meta-data/public-keys/0/openssh-key": KEY.encode() + b"\n",
    "/latest/user-data": USERDATA,
}


def test_aws_writes_metadata_userdata_hostname_and_keys(tmp_path: Path, serve: Serve) -> None:
    serve(AWS)
    root = node_root(tmp_path / "r")
    run = run_config(root, step("[cdrom, aws]"))
    assert run.statuses == ["applied"], run.reasons()
    config = root / "run/config"
    assert (config / "hostname").read_bytes() == b"ip-10-0-0-7"
    assert (config / "public_ipv4").read_bytes() == b"203.0.113.7"
    assert (config / "instance_id").read_bytes() == b"i-0abc"
    assert not (config / "local_ipv4").exists()  # not served: not written
    keys = config / "ssh/authorized_keys"
    assert keys.read_text() == KEY + "\n" and keys.stat().st_mode & 0o777 == 0o600
    assert (config / "ssh").stat().st_mode & 0o777 == 0o755
    assert (root / "oem/95_userdata/userdata").read_bytes() == USERDATA
    assert (root / "oem/95_userdata/userdata.yaml").read_bytes() == USERDATA
    # What yip does next with them: the hostname and the running user's keys.
    assert (root / "etc/hostname").read_text() == "ip-10-0-0-7\n"
    assert KEY in (root / "root/.ssh/authorized_keys").read_text()
    # Idempotent: nothing changes the second time.
    assert run_config(root, step("[cdrom, aws]")).statuses == ["unchanged"]


def test_the_first_provider_in_the_given_order_wins(tmp_path: Path, serve: Serve) -> None:
    table = dict(AWS)
    table["/metadata/v1/"] = b"id\nhostname\n"
    table["/metadata/v1/hostname"] = b"droplet"
    table["/metadata/v1/user-data"] = b"#cloud-config\nhostname: from-do\n"
    serve(table)
    root = node_root(tmp_path / "r")
    assert run_config(root, step("[digitalocean, aws]")).statuses == ["applied"]
    assert (root / "run/config/hostname").read_bytes() == b"droplet"
    assert b"from-do" in (root / "oem/95_userdata/userdata").read_bytes()
    other = node_root(tmp_path / "o")
    assert run_config(other, step("[aws, digitalocean]")).statuses == ["applied"]
    assert (other / "run/config/hostname").read_bytes() == b"ip-10-0-0-7"


def test_gcp_sends_its_header_and_keeps_the_keys_without_user_names(
    tmp_path: Path, serve: Serve
) -> None:
    base = "/computeMetadata/v1/"
    meta = serve(
        {
            base + "instance/hostname": b"gce-node",
            base + "project/attributes/ssh-keys": f"alice:{KEY}\nbob:ssh-rsa AAAAB3 bob\n".encode(),
            base + "instance/attributes/user-data": USERDATA,
        },
        {"Metadata-Flavor": "Google"},
    )
    root = node_root(tmp_path / "r")
    assert run_config(root, step("[gcp]")).statuses == ["applied"]
    assert (root / "run/config/ssh/authorized_keys").read_text() == f"{KEY}\nssh-rsa AAAAB3 bob\n"
    assert meta.seen[0] == base + "instance/hostname"


def test_azure_decodes_the_user_data_and_names_files_by_path(tmp_path: Path, serve: Serve) -> None:
    q = P.AZURE_QUERY

    def at(node: str) -> str:
        return f"/metadata/instance/{node}{q}"

    goal = (
        b"<GoalState><Container><ContainerId>c-1</ContainerId><RoleInstanceList>"
        b"<RoleInstance><InstanceId>i-9</InstanceId></RoleInstance></RoleInstanceList>"
        b"</Container></GoalState>"
    )
    meta = serve(
        {
            at("compute/vmId"): b"f00-ba4",
            at("compute/name"): b"az-node",
            at("compute/zone"): b"2",
            at("compute/userData"): base64.b64encode(USERDATA),
            "/machine?comp=goalstate": goal,
        },
        {"Metadata": "true"},
    )
    root = node_root(tmp_path / "r")
    assert run_config(root, step("[azure]")).statuses == ["applied"]
    # Then it reports ready to the wire server, as yip does.
    ((where, body),) = meta.posted
    assert where == "/machine?comp=health"
    assert b"<ContainerId>c-1</ContainerId>" in body and b"<State>Ready</State>" in body
    assert b"<Role><InstanceId>i-9</InstanceId>" in body
    assert (root / "run/config/compute_vmId").read_bytes() == b"f00-ba4"
    assert (root / "run/config/compute_zone").read_bytes() == b"2"
    assert (root / "oem/95_userdata/userdata").read_bytes() == USERDATA


def test_hetzner_keys_are_a_json_list(tmp_path: Path, serve: Serve) -> None:
    serve(
        {
            "/latest/meta-data/hostname": b"hz",
            "/latest/user-data": USERDATA,
            "/latest/meta-data/public-keys": json.dumps([KEY, "ssh-rsa AAAA x"]).encode(),
        }
    )
    root = node_root(tmp_path / "r")
    assert run_config(root, step("[hetzner]")).statuses == ["applied"]
    assert (root / "run/config/ssh/authorized_keys").read_text() == f"{KEY}\nssh-rsa AAAA x\n"


def test_packet_metadata_is_json_and_an_ipxe_script_is_no_user_data(
    tmp_path: Path, serve: Serve
) -> None:
    meta = {
        "/metadata": json.dumps({"hostname": "metal-1", "ssh_keys": [KEY]}).encode(),
        "/userdata": b"#!ipxe\nchain http://boot/",
    }
    serve(meta)
    root = node_root(tmp_path / "r")
    run = run_config(root, step("[packet]"))
    assert run.statuses == ["failed"]
    assert run.reasons() == (
        "datasource: no metadata/userdata found (packet answered without user-data); asked: packet"
    )
    meta["/userdata"] = USERDATA
    assert run_config(root, step("[packet]")).statuses == ["applied"]
    assert (root / "run/config/hostname").read_bytes() == b"metal-1"


def test_vultr_and_metaldata_and_digitalocean_files(tmp_path: Path, serve: Serve) -> None:
    serve(
        {
            "/v1/": b"ok",
            "/v1/hostname": b"vultr-1",
            "/v1/region/regioncode": b"AMS",
            "/get/meta/hostname": b"metal",
            "/get/meta/machine-id": b"m-1",
            "/get/user": USERDATA,
        }
    )
    root = node_root(tmp_path / "r")
    run = run_config(root, step("[vultr]"))
    assert run.statuses == ["failed"] and "vultr answered without user-data" in run.reasons()
    other = node_root(tmp_path / "o")
    assert run_config(other, step("[metaldata]")).statuses == ["applied"]
    assert (other / "run/config/machine_id").read_bytes() == b"m-1"


def test_when_no_provider_answers_the_step_fails_as_in_yip(tmp_path: Path, serve: Serve) -> None:
    meta = serve({})
    root = node_root(tmp_path / "r")
    providers = (
        "[cdrom, gcp, openstack, aws, azure, hetzner, packet, vultr, digitalocean,"
        " metaldata, vmware, config-drive, maas]"
    )
    run = run_config(root, step(providers))
    assert run.statuses == ["failed"]
    assert run.reasons().startswith("datasource: no metadata/userdata found; asked: cdrom, gcp")
    assert meta.seen  # they were asked...
    assert not (root / "oem").exists() and not (root / "run").exists()  # nothing was made


def test_a_dry_run_asks_no_provider(tmp_path: Path, serve: Serve) -> None:
    meta = serve(AWS)
    root = node_root(tmp_path / "r")
    run = run_config(root, step("[aws, gcp, aws]"), dry_run=True)
    assert run.statuses == ["planned"]
    assert meta.seen == []
    assert run.actions()[0][-1]["detail"] == "not asked in a dry-run: aws, gcp"
    assert not (root / "run").exists() or not (root / "run/config").exists()


def test_the_file_provider_reads_path_in_the_root(tmp_path: Path) -> None:
    root = node_root(tmp_path / "r")
    (root / "oem").mkdir()
    (root / "oem/seed.yaml").write_bytes(USERDATA)
    assert run_config(root, step("[file]", "/oem/seed.yaml")).statuses == ["applied"]
    assert (root / "run/config/userdata.yaml").read_bytes() == USERDATA


def test_a_script_user_data_is_written_executable_and_run(tmp_path: Path) -> None:
    root = node_root(tmp_path / "r")
    ctx = RunContext(root=DryRunRoot(str(root)))
    found = P.Found("aws", userdata=b"#!/bin/sh\necho hello\n")
    actions = D.plan_found(ctx, found, "/oem/95_userdata", "userdata.yaml")
    written = [a for a in actions if a.kind == "file"]
    assert [(a.path, a.mode) for a in written] == [("/oem/95_userdata/userdata", 0o744)]
    assert [(a.kind, a.command, a.change) for a in actions if a.change == RUN] == [
        ("command", "/oem/95_userdata/userdata", RUN)
    ]


def test_vmware_multipart_user_data_keeps_the_cloud_config_part() -> None:
    body = (
        b"--MIMEBOUNDARY\r\nContent-Type: text/x-shellscript\r\n\r\necho no\r\n"
        b"--MIMEBOUNDARY\r\nContent-Type: text/cloud-config\r\n\r\n"
        b"#cloud-config\nhostname: x\r\n"
        b"--MIMEBOUNDARY--\r\n"
    )
    assert D.multipart_cloud_config(body) == b"#cloud-config\nhostname: x"
    assert D.multipart_cloud_config(USERDATA) == USERDATA


def test_guestinfo_encodings() -> None:
    import gzip

    assert P.decode_guestinfo("plain", "") == b"plain"
    assert P.decode_guestinfo(base64.b64encode(b"x").decode(), "base64") == b"x"
    packed = base64.b64encode(gzip.compress(b"y")).decode()
    assert P.decode_guestinfo(packed, "gzip+base64") == b"y"


def test_the_url_override_is_honoured_only_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P.METADATA_URL_ENV, "http://127.0.0.1:8080")
    assert P.metadata_base(P.AWS + "user-data") == "http://127.0.0.1:8080/latest/user-data"
    monkeypatch.setenv(P.METADATA_URL_ENV, "http://10.1.2.3:8080")
    assert P.metadata_base(P.AWS + "user-data") == P.AWS + "user-data"
    monkeypatch.delenv(P.METADATA_URL_ENV)
    assert P.metadata_base(P.PACKET + "metadata") == P.PACKET + "metadata"


def test_is_config_as_yip_reads_it() -> None:
    assert D.is_config(USERDATA) and D.is_config(b"")
    assert not D.is_config(b"#!/bin/sh\necho hi\n")
    assert not D.is_config(b"- a list\n") and not D.is_config(b"key: [unclosed\n")


# --- CD-ROM and config drive: ISO images on loop devices -----------------------

ISO_TOOL = shutil.which("genisoimage") or shutil.which("xorriso")


def make_iso(tmp_path: Path, label: str, files: dict[str, bytes]) -> Path:
    src = tmp_path / f"iso-{label}"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    iso = tmp_path / f"{label}.iso"
    assert ISO_TOOL is not None
    if ISO_TOOL.endswith("genisoimage"):
        argv = [ISO_TOOL, "-quiet", "-o", str(iso), "-V", label, "-J", "-r", str(src)]
    else:
        argv = [
            ISO_TOOL,
            "-as",
            "mkisofs",
            "-quiet",
            "-o",
            str(iso),
            "-V",
            label,
            "-J",
            "-r",
            str(src),
        ]
    subprocess.run(argv, check=True, capture_output=True)
    return iso


@pytest.mark.subprocess
@pytest.mark.skipif(
    os.geteuid() != 0 or ISO_TOOL is None or shutil.which("losetup") is None,
    reason="cdrom tests need root, losetup and genisoimage or xorriso"
    " (apt-get install genisoimage)",
)
@pytest.mark.parametrize(
    ("kind", "label", "name"),
    [
        ("cdrom", "cidata", "user-data"),
        ("config-drive", "config-2", "openstack/latest/user_data"),
    ],
)
def test_an_iso_with_the_standard_label_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, label: str, name: str
) -> None:
    iso = make_iso(tmp_path, label, {name: USERDATA, "meta-data": b"instance-id: x\n"})
    device = subprocess.run(
        ["losetup", "-f", "--show", "-r", str(iso)], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not device:
        pytest.skip("no loop device")
    try:
        monkeypatch.setenv(P.CDROM_LOOP_ENV, "1")
        monkeypatch.setenv(P.METADATA_URL_ENV, "http://127.0.0.1:9")  # nothing listens
        # The devices are the host's: let this temp root stand for the running system.
        monkeypatch.setattr(Root, "is_host_root", property(lambda self: True))
        root = node_root(tmp_path / "r")
        run = run_config(root, step(f"[aws, {kind}]"))
        assert run.statuses == ["applied"], run.reasons()
        assert (root / "oem/95_userdata/userdata.yaml").read_bytes() == USERDATA
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


@pytest.mark.subprocess
@pytest.mark.skipif(
    ISO_TOOL is None or not str(ISO_TOOL).endswith("genisoimage"),
    reason="needs genisoimage (apt-get install genisoimage)",
)
@pytest.mark.parametrize("names", [["-J", "-r"], ["-r"], ["-J"], ["-J", "-r", "-iso-level", "4"]])
def test_iso9660_reader_finds_nested_files_under_each_naming(
    tmp_path: Path, names: list[str]
) -> None:
    from executor.modules import iso9660

    src = tmp_path / "src"
    (src / "openstack/latest").mkdir(parents=True)
    (src / "openstack/latest/user_data").write_bytes(USERDATA)
    (src / "openstack/latest/meta_data.json").write_bytes(b"{}")
    for i in range(80):  # enough records to fill more than one directory sector
        (src / f"padding-file-with-a-long-name-{i:03}").write_bytes(b"x")
    (src / "user-data").write_bytes(b"#cloud-config\n")
    iso = tmp_path / "c.iso"
    assert ISO_TOOL is not None
    subprocess.run(
        [ISO_TOOL, "-quiet", "-o", str(iso), "-V", "config-2", *names, str(src)],
        check=True,
        capture_output=True,
    )
    assert iso9660.read_file(str(iso), "openstack/latest/user_data") == USERDATA
    assert iso9660.read_file(str(iso), "user-data") == b"#cloud-config\n"
    assert iso9660.read_file(str(iso), "openstack/latest/missing") is None
    assert iso9660.read_file(str(iso), "openstack") is None  # a directory
    not_iso = tmp_path / "zero.img"
    not_iso.write_bytes(bytes(64 * 2048))
    with pytest.raises(iso9660.NotIso):
        iso9660.read_file(str(not_iso), "user-data")


def test_a_provider_that_hangs_is_abandoned_after_the_probe_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def hangs(budget: P.Budget) -> P.Found | None:
        release.wait()  # a DNS lookup that never returns, say
        return None

    monkeypatch.setitem(P.HTTP_PROVIDERS, "aws", hangs)
    monkeypatch.setattr(D, "PROBE_WINDOW", 0.2)
    monkeypatch.setattr(D, "DEADLINE", 3600.0)
    outcome: list[str] = []

    def plan() -> None:
        ctx = RunContext(root=Root(str(node_root(tmp_path / "r"))))
        try:
            D.plan_datasource(ctx, {"datasource": {"providers": ["aws"]}})
        except Exception as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=plan, daemon=True)
    worker.start()
    worker.join(120)  # liveness, not timing: without the window this waits an hour
    release.set()
    assert not worker.is_alive()
    assert outcome == ["no metadata/userdata found; asked: aws"]


@pytest.mark.skipif(os.geteuid() != 0, reason="scaleway's user-data needs a port below 1024")
def test_scaleway_reads_its_conf_and_user_data_from_a_privileged_port(
    tmp_path: Path, serve: Serve
) -> None:
    meta = serve(
        {
            "/conf": b"HOSTNAME=scw-1\nID=abc\nSSH_PUBLIC_KEYS=1\n"
            b"SSH_PUBLIC_KEYS_0_KEY='" + KEY.encode() + b"'\n",
            "/user_data/cloud-init": USERDATA,
        }
    )
    root = node_root(tmp_path / "r")
    assert run_config(root, step("[scaleway]")).statuses == ["applied"]
    assert (root / "run/config/hostname").read_bytes() == b"scw-1"
    assert (root / "run/config/instance_id").read_bytes() == b"abc"
    assert (root / "run/config/ssh/authorized_keys").read_text() == KEY + "\n"
    assert (root / "oem/95_userdata/userdata").read_bytes() == USERDATA
    assert "/user_data/cloud-init" in meta.seen


def test_file_without_path_and_unknown_names_are_skipped(tmp_path: Path, serve: Serve) -> None:
    serve(AWS)
    root = node_root(tmp_path / "r")
    text = """stages:
  test:
    - datasource:
        providers: [file, maas, aws]
"""
    assert run_config(root, text).statuses == ["applied"]
    assert (root / "run/config/userdata.yaml").read_bytes() == USERDATA


@pytest.mark.subprocess
def test_vmware_guestinfo_through_vmware_rpctool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for open-vm-tools' tool, answering as it does inside a VM.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    encoded = base64.b64encode(USERDATA).decode()
    tool = bin_dir / "vmware-rpctool"
    tool.write_text(f"""#!/bin/sh
case "$1" in
  "info-get guestinfo.userdata") echo '{encoded}' ;;
  "info-get guestinfo.userdata.encoding") echo base64 ;;
  "info-get guestinfo.metadata") echo 'local-hostname: vm-1' ;;
  *) echo "No value found"; exit 1 ;;
esac
""")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    root = node_root(tmp_path / "r")
    assert run_config(root, step("[vmware]")).statuses == ["applied"]
    assert (root / "run/config/metadata").read_bytes() == b"local-hostname: vm-1"
    assert not (root / "run/config/vendordata").exists()
    assert (root / "oem/95_userdata/userdata.yaml").read_bytes() == USERDATA


def test_a_hanging_provider_listed_first_does_not_hold_the_one_that_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Serve
) -> None:
    serve(AWS)
    release = threading.Event()

    def hangs(budget: P.Budget) -> P.Found | None:
        release.wait()
        return None

    monkeypatch.setitem(P.HTTP_PROVIDERS, "gcp", hangs)
    monkeypatch.setattr(D, "PROBE_WINDOW", 0.2)
    monkeypatch.setattr(D, "DEADLINE", 3600.0)
    result: list[P.Found | None] = []
    ctx = RunContext(root=Root(str(node_root(tmp_path / "r"))))
    worker = threading.Thread(
        target=lambda: result.append(D.first_answer(ctx, ["gcp", "aws"], "", 1e12)), daemon=True
    )
    worker.start()
    worker.join(120)  # liveness, not timing: waiting for gcp would take an hour
    release.set()
    assert not worker.is_alive()
    (found,) = result
    assert found is not None and found.provider == "aws"


def _release_fifo(fifo: Path) -> None:
    """Let a reader blocked opening `fifo` go on (it then reads an empty file)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader left


def test_the_cdrom_scan_is_inside_the_datasource_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A "drive" whose read never returns (a FIFO nobody writes): the step still
    # ends, by its deadline, with no answer.
    fifo = tmp_path / "sr0"
    os.mkfifo(fifo)
    monkeypatch.setattr(P, "cdrom_devices", lambda *args: [str(fifo)])
    monkeypatch.setattr(D, "DEADLINE", 1.0)
    outcome: list[str] = []

    def plan() -> None:
        try:
            D.ask_providers(RunContext(root=Root("/")), ["cdrom"], "")
            outcome.append("returned")
        except Exception as exc:
            outcome.append(repr(exc))

    worker = threading.Thread(target=plan, daemon=True)
    worker.start()
    worker.join(120)  # liveness, not timing: without the deadline this never ends
    alive = worker.is_alive()
    _release_fifo(fifo)
    worker.join(10)
    assert not alive and outcome == ["returned"]


def test_a_cdrom_read_that_hangs_is_given_up_at_the_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    from executor.runner import Runner

    fifo = tmp_path / "sr0"
    os.mkfifo(fifo)
    try:
        assert P.read_cdrom(Runner(), "cdrom", str(fifo), time.monotonic() + 0.5) is None
    finally:
        _release_fifo(fifo)
    assert "did not end by the datasource deadline" in capsys.readouterr().err
    # Out of time already: the drive is not even opened.
    assert P.read_cdrom(Runner(), "cdrom", str(fifo), time.monotonic() - 1) is None
    assert P.cdrom_devices(Runner(), "cdrom", time.monotonic() - 1) == sorted(
        __import__("glob").glob("/dev/sr[0-9]*")
    )


@pytest.mark.subprocess
def test_a_mount_point_that_cannot_be_made_is_a_warning_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile
    import time

    from executor.runner import Runner

    not_iso = tmp_path / "fat.img"
    not_iso.write_bytes(bytes(64 * 2048))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    assert P.read_cdrom(Runner(), "config-drive", str(not_iso), time.monotonic() + 60) is None
    assert f"cannot make a directory to mount {not_iso} on" in capsys.readouterr().err


@pytest.mark.subprocess
def test_vmware_answering_is_waited_for_past_the_probe_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # guestinfo.metadata answers at once; the user-data takes longer than the
    # probe window: vmware has answered, so it is waited for.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "vmware-rpctool"
    tool.write_text("""#!/bin/sh
case "$1" in
  "info-get guestinfo.metadata") echo 'local-hostname: vm-2' ;;
  "info-get guestinfo.userdata") sleep 3; echo '#cloud-config' ;;
  *) echo "No value found"; exit 1 ;;
esac
""")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(D, "PROBE_WINDOW", 1.5)
    monkeypatch.setattr(D, "DEADLINE", 3600.0)
    monkeypatch.setattr(P, "PROBE_TIMEOUT", 60.0)
    root = node_root(tmp_path / "r")
    run = run_config(root, step("[vmware]"))
    assert run.statuses == ["applied"], run.reasons()
    assert (root / "oem/95_userdata/userdata").read_bytes() == b"#cloud-config"


def test_a_follow_up_that_fails_says_it_came_from_the_provider(
    tmp_path: Path, serve: Serve
) -> None:
    table = dict(AWS)
    table["/latest/meta-data/hostname"] = b"bad name"
    serve(table)
    root = node_root(tmp_path / "r")
    run = run_config(root, step("[aws]"))
    assert run.statuses == ["failed"]
    assert run.reasons() == "datasource: the provider's hostname: host name 'bad name' contains ' '"
    serve(AWS)
    other = tree(tmp_path / "o", {"/etc/passwd": "", "/etc/group": "", "/etc/hosts": ""})
    run = run_config(other, step("[aws]"))
    assert run.reasons() == (
        "datasource: the provider's SSH keys: user 'root' is not in the root's /etc/passwd"
    )
