"""The datasource providers: where a cloud (or a CD-ROM) hands a node its user-data.

Each provider answers with a `Found`: the user-data (None when the provider
has none) and the metadata files it wants under /run/config (`hostname`,
`ssh/authorized_keys`, `public_ipv4` ...), with yip's names, URLs and file
names. Nothing here writes: the datasource module plans the writes inside
the root.

Every HTTP request has a 2 s timeout (yip's) and the whole run an overall
deadline (a Budget), through the one fetcher (executor/fetch.py) with proxies
ignored (metadata services are link-local). Tests point every provider at a
local server with STAGE_EXECUTOR_METADATA_URL, honoured only for a loopback
address, so a stray variable cannot send a node's requests elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import urllib.parse
from collections.abc import Callable

from executor import fetch
from executor.errors import StepError
from executor.log import log
from executor.record import dataclass, field
from executor.runner import Runner

PROBE_TIMEOUT = 2.0  # seconds per request, as yip's clients
METADATA_URL_ENV = "STAGE_EXECUTOR_METADATA_URL"  # tests: http://127.0.0.1:PORT
CDROM_LOOP_ENV = "STAGE_EXECUTOR_DATASOURCE_LOOP"  # tests: also look at loop devices
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
HOSTNAME, SSH_KEYS = "hostname", "ssh/authorized_keys"

AWS = "http://169.254.169.254/latest/"
DIGITALOCEAN = "http://169.254.169.254/metadata/v1/"
VULTR = "http://169.254.169.254/v1/"
GCP = "http://metadata.google.internal/computeMetadata/v1/"
METALDATA = "http://metaldata/get/"
AZURE = "http://169.254.169.254/metadata/instance"
AZURE_QUERY = "?api-version=2021-01-01&format=text"
AZURE_WIRE = "http://168.63.129.16/machine"
PACKET = "https://metadata.platformequinix.com/"
SCALEWAY = "http://169.254.42.42/"


@dataclass
class Found:
    """What a provider that answered gave."""

    provider: str
    userdata: bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # relative to /run/config


def metadata_base(url: str) -> str:
    """`url` with its scheme and host replaced by the test override, if one is set."""
    override = os.environ.get(METADATA_URL_ENV, "")
    if not override:
        return url
    parts = urllib.parse.urlsplit(override)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        log.warning(
            "%s=%s ignored: only a loopback http URL may replace the metadata services",
            METADATA_URL_ENV,
            override,
        )
        return url
    real = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(("http", parts.netloc, real.path, real.query, ""))


class Budget:
    """The time a datasource run may take, shared by its providers: an overall
    deadline, and the providers that have answered anything (the others are
    waited for only as long as a probe takes, not until the deadline). Each
    provider runs in a thread named after it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.answered_by: set[str] = set()

    def answered(self) -> None:
        """The calling provider (its thread) got an answer: worth waiting for."""
        import threading

        self.answered_by.add(threading.current_thread().name)


class Http:
    """GETs for one provider: its headers, the per-request timeout and the deadline."""

    def __init__(self, budget: Budget, headers: dict[str, str] | None = None) -> None:
        self.budget = budget
        self.deadline = budget.deadline
        self.headers = headers or {}

    def get(self, url: str) -> bytes | None:
        """The body of a 200 answer, None for anything else (as yip's getters)."""
        try:
            body = fetch.fetch(
                metadata_base(url),
                timeout=PROBE_TIMEOUT,
                retries=0,
                headers=self.headers,
                deadline=self.deadline,
                direct=True,
                limit=16 << 20,
            )
        except StepError as exc:
            log.debug("%s", exc)
            return None
        self.budget.answered()
        return body

    def save(self, found: Found, url: str, name: str) -> None:
        value = self.get(url)
        if value is not None:
            found.files[name] = value


# --- The providers that follow the EC2 layout (yip shares the URLs) ---------

# (metadata path, file under /run/config) for each provider of that layout.
EC2_FILES = {
    "aws": (
        ("public-ipv4", "public_ipv4"),
        ("local-ipv4", "local_ipv4"),
        ("placement/availability-zone", "availability_zone"),
        ("instance-type", "instance_type"),
        ("instance-id", "instance_id"),
        ("local-hostname", "local_hostname"),
    ),
    "hetzner": (
        ("public-ipv4", "public_ipv4"),
        ("local-ipv4", "local_ipv4"),
        ("instance-id", "instance_id"),
    ),
}
EC2_FILES["openstack"] = EC2_FILES["aws"]


def ec2_like(name: str, budget: Budget) -> Found | None:
    http = Http(budget)
    meta = AWS + "meta-data/"
    hostname = http.get(meta + "hostname")
    if hostname is None:
        return None
    found = Found(name, files={HOSTNAME: hostname})
    for path, file in EC2_FILES[name]:
        http.save(found, meta + path, file)
    if name == "hetzner":
        keys = http.get(meta + "public-keys")
        if keys is not None:
            try:
                listed = json.loads(keys)
                found.files[SSH_KEYS] = "".join(f"{k}\n" for k in listed).encode()
            except (ValueError, TypeError):
                log.warning("hetzner: public-keys is not a JSON list of keys")
    else:
        http.save(found, meta + "public-keys/0/openssh-key", SSH_KEYS)
    found.userdata = http.get(AWS + "user-data")
    return found


def gcp(budget: Budget) -> Found | None:
    http = Http(budget, {"Metadata-Flavor": "Google"})
    hostname = http.get(GCP + "instance/hostname")
    if hostname is None:
        return None
    found = Found("gcp", files={HOSTNAME: hostname})
    keys = http.get(GCP + "project/attributes/ssh-keys")
    if keys is not None:
        # Each line is USER:KEY; yip keeps the keys and drops the user names.
        kept = [
            line.split(":", 1)[1]
            for line in keys.decode(errors="replace").split("\n")
            if ":" in line
        ]
        found.files[SSH_KEYS] = "".join(f"{k}\n" for k in kept).encode()
    found.userdata = http.get(GCP + "instance/attributes/user-data")
    return found


def digitalocean(budget: Budget) -> Found | None:
    http = Http(budget)
    if http.get(DIGITALOCEAN) is None:
        return None
    found = Found("digitalocean")
    http.save(found, DIGITALOCEAN + "hostname", HOSTNAME)
    for path, file in (
        ("interfaces/public/0/ipv4/address", "public_ipv4"),
        ("interfaces/private/0/ipv4/address", "private_ipv4"),
        ("region", "region"),
        ("id", "id"),
    ):
        http.save(found, DIGITALOCEAN + path, file)
    http.save(found, DIGITALOCEAN + "public-keys", SSH_KEYS)
    found.userdata = http.get(DIGITALOCEAN + "user-data")
    return found


def vultr(budget: Budget) -> Found | None:
    http = Http(budget)
    if http.get(VULTR) is None:
        return None
    found = Found("vultr")
    http.save(found, VULTR + "hostname", HOSTNAME)
    for path, file in (
        ("interfaces/0/ipv4/address", "public_ipv4"),
        ("interfaces/1/ipv4/address", "private_ipv4"),
        ("interfaces/1/ipv4/netmask", "private_netmask"),
        ("region/regioncode", "region_code"),
        ("instanceid", "instance_id"),
    ):
        http.save(found, VULTR + path, file)
    http.save(found, VULTR + "public-keys", SSH_KEYS)
    return found  # yip's Vultr provider reads no user-data


def metaldata(budget: Budget) -> Found | None:
    http = Http(budget)
    meta = METALDATA + "meta/"
    hostname = http.get(meta + "hostname")
    if hostname is None:
        return None
    found = Found("metaldata", files={HOSTNAME: hostname})
    for path, file in (
        ("public-ipv4", "public_ipv4"),
        ("private-ipv4", "private_ipv4"),
        ("failure-domain", "failure_domain"),
        ("machine-id", "machine_id"),
        ("machine-type", "machine_type"),
    ):
        http.save(found, meta + path, file)
    http.save(found, meta + "authorized-keys", SSH_KEYS)
    found.userdata = http.get(METALDATA + "user")
    return found


def azure(budget: Budget) -> Found | None:
    http = Http(budget, {"Metadata": "true"})

    def url(node: str) -> str:
        return f"{AZURE}/{node}{AZURE_QUERY}"

    if http.get(url("compute/vmId")) is None:
        return None
    found = Found("azure")
    http.save(found, url("compute/name"), HOSTNAME)
    http.save(found, url("compute/publicKeys/0/keyData"), SSH_KEYS)
    for node in (
        "network/interface/0/ipv4/ipAddress/0/publicIpAddress",
        "network/interface/0/ipv4/ipAddress/0/privateIpAddress",
        "compute/zone",
        "compute/vmId",
    ):
        http.save(found, url(node), node.replace("/", "_"))
    encoded = http.get(url("compute/userData"))
    if encoded is not None:
        try:
            found.userdata = base64.b64decode(encoded, validate=False)
        except ValueError:
            log.warning("azure: compute/userData is not base64")
        else:
            report_ready(budget)  # as yip, once the user-data is in hand
    return found


def report_ready(budget: Budget) -> bool:
    """Tell Azure's wire server the VM is provisioned (what its agent would do)."""
    import xml.etree.ElementTree as ET

    wire = {"x-ms-version": "2012-11-30"}
    try:
        goal = fetch.fetch(
            metadata_base(AZURE_WIRE + "?comp=goalstate"),
            timeout=PROBE_TIMEOUT,
            retries=0,
            headers=wire,
            deadline=budget.deadline,
            direct=True,
        )
        state = ET.fromstring(goal)
        container = state.findtext("Container/ContainerId") or ""
        instance = state.findtext("Container/RoleInstanceList/RoleInstance/InstanceId") or ""
        health = ET.Element("Health")
        ET.SubElement(health, "GoalStateIncarnation").text = "1"
        box = ET.SubElement(health, "Container")
        ET.SubElement(box, "ContainerId").text = container
        role = ET.SubElement(ET.SubElement(box, "RoleInstanceList"), "Role")
        ET.SubElement(role, "InstanceId").text = instance
        ET.SubElement(ET.SubElement(role, "Health"), "State").text = "Ready"
        fetch.fetch(
            metadata_base(AZURE_WIRE + "?comp=health"),
            timeout=PROBE_TIMEOUT,
            retries=0,
            deadline=budget.deadline,
            direct=True,
            data=ET.tostring(health),
            headers={
                **wire,
                "x-ms-agent-name": "WALinuxAgent",
                "Content-Type": "text/xml;charset=utf-8",
            },
        )
    except (StepError, ET.ParseError) as exc:
        log.warning("azure: report ready failed: %s", exc)
        return False
    log.info("azure: reported ready (container %s, instance %s)", container, instance)
    return True


def packet(budget: Budget) -> Found | None:
    http = Http(budget)
    raw = http.get(PACKET + "metadata")
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta.get("error"):
        return None
    keys = meta.get("ssh_keys") or []
    found = Found(
        "packet",
        files={
            HOSTNAME: str(meta.get("hostname", "")).encode(),
            SSH_KEYS: "\n".join(str(k) for k in keys).encode(),
        },
    )
    userdata = http.get(PACKET + "userdata")
    # An iPXE script is the boot loader's, not ours (yip drops it too).
    if userdata and not userdata.startswith(b"#!ipxe"):
        found.userdata = userdata
    return found


def scaleway(budget: Budget) -> Found | None:
    http = Http(budget)
    raw = http.get(SCALEWAY + "conf")
    if raw is None:
        return None
    conf = dict(
        line.split("=", 1) for line in raw.decode(errors="replace").splitlines() if "=" in line
    )
    found = Found("scaleway")
    for key, name in (
        ("HOSTNAME", HOSTNAME),
        ("ID", "instance_id"),
        ("LOCATION_ZONE_ID", "instance_location"),
        ("PUBLIC_IP_ADDRESS", "public_ip"),
        ("PRIVATE_IP", "private_ip"),
    ):
        if key in conf:
            found.files[name] = conf[key].encode()
    count = conf.get("SSH_PUBLIC_KEYS", "")
    if count.isdigit():
        keys = [conf.get(f"SSH_PUBLIC_KEYS_{i}_KEY", "").strip("'") for i in range(int(count))]
        found.files[SSH_KEYS] = "".join(f"{k}\n" for k in keys if k).encode()
    found.userdata = scaleway_userdata(budget)
    return found


def scaleway_userdata(budget: Budget) -> bytes | None:
    """Scaleway serves user-data only to a privileged source port (below 1024)."""
    import socket
    import time

    parts = urllib.parse.urlsplit(metadata_base(SCALEWAY))
    address = (parts.hostname or "", parts.port or 80)
    for port in range(1, 1024):
        left = budget.deadline - time.monotonic()
        if left <= 0:
            return None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(min(PROBE_TIMEOUT, left))
        try:
            sock.bind(("", port))
        except OSError:
            sock.close()
            continue  # in use, or not ours to take
        try:
            sock.connect(address)
            sock.sendall(b"GET /user_data/cloud-init HTTP/1.0\r\n\r\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if time.monotonic() > budget.deadline:
                    return None
        except OSError as exc:
            log.debug("scaleway user-data: %s", exc)
            return None
        finally:
            sock.close()
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1:2]
        return body if status == [b"200"] else None
    log.debug("scaleway user-data: no free source port below 1024")
    return None


def vmware(runner: Runner, budget: Budget) -> Found | None:
    """guestinfo through open-vm-tools' `vmware-rpctool`, when the image has it.

    Its first call that succeeds marks it as answering (`budget`), as an
    HTTP answer does: it is then waited for past the probe window."""
    import shutil

    tool = shutil.which("vmware-rpctool")
    if tool is None:
        log.debug("vmware: vmware-rpctool is not installed, guestinfo cannot be read")
        return None

    def guestinfo(key: str) -> bytes | None:
        done = runner.run([tool, f"info-get guestinfo.{key}"], timeout=PROBE_TIMEOUT)
        if not done.ok:
            return None
        budget.answered()
        value = done.output.rstrip("\n")
        encoding = runner.run([tool, f"info-get guestinfo.{key}.encoding"], timeout=PROBE_TIMEOUT)
        return decode_guestinfo(value, encoding.output.strip() if encoding.ok else "")

    metadata, userdata = guestinfo("metadata"), guestinfo("userdata")

    def present(value: bytes | None) -> bool:
        return value is not None and len(value) > 1 and value != b"---"

    if not (present(metadata) or present(userdata)):
        return None
    found = Found("vmware", userdata=userdata)
    vendordata = guestinfo("vendordata")
    if vendordata is not None:
        found.files["vendordata"] = vendordata
    if metadata is not None:
        found.files["metadata"] = metadata
    return found


def decode_guestinfo(value: str, encoding: str) -> bytes | None:
    import gzip

    try:
        if encoding in ("", " "):
            return value.encode()
        if encoding == "base64":
            return base64.b64decode(value)
        if encoding in ("gzip+base64", "gz+b64"):
            return gzip.decompress(base64.b64decode(value))
    except (ValueError, OSError, EOFError):
        log.warning("vmware: guestinfo value does not decode as %s", encoding)
        return None
    log.warning("vmware: unknown guestinfo encoding %r", encoding)
    return None


HttpProbe = Callable[[Budget], "Found | None"]

HTTP_PROVIDERS: dict[str, HttpProbe] = {
    "aws": lambda b: ec2_like("aws", b),
    "openstack": lambda b: ec2_like("openstack", b),
    "hetzner": lambda b: ec2_like("hetzner", b),
    "gcp": gcp,
    "digitalocean": digitalocean,
    "vultr": vultr,
    "metaldata": metaldata,
    "azure": azure,
    "packet": packet,
    "scaleway": scaleway,
}


# --- CD-ROMs and config drives ----------------------------------------------

CDROM_FILES = {"cdrom": ("user-data", "config"), "config-drive": ("openstack/latest/user_data",)}
CDROM_LABELS = {"cdrom": "cidata", "config-drive": "config-2"}


BLKID_TIMEOUT = 10.0  # seconds for the one scan of every device's labels
MOUNT_TIMEOUT = 30.0  # seconds for mounting (and for unmounting) a drive


def _left(deadline: float) -> float:
    import time

    return deadline - time.monotonic()


def cdrom_devices(runner: Runner, kind: str, deadline: float) -> list[str]:
    """Devices labelled cidata (config-2 for a config drive), then /dev/sr*.

    As yip, loop and ram devices are not considered (a live image's own
    loop mounts are not datasources); tests set STAGE_EXECUTOR_DATASOURCE_LOOP.
    The label scan ends by `deadline` (a time.monotonic() instant).
    """
    import glob
    import shutil

    label = CDROM_LABELS[kind]
    found: list[str] = []
    blkid = shutil.which("blkid")
    if _left(deadline) <= 0:
        log.warning("datasource %s: out of time, labelled drives not looked for", kind)
    elif blkid is None:
        log.warning("datasource %s: blkid is not installed, labelled drives cannot be found", kind)
    else:
        # One scan of every device (exit 2: no device has any tag at all).
        done = runner.run(
            [blkid, "-c", "/dev/null", "-o", "export"],
            timeout=min(BLKID_TIMEOUT, _left(deadline)),
            expected=(0, 2),  # 2: no labelled drive at all
        )
        for device, tags in blkid_devices(done.output if done.ok else ""):
            if tags.get("LABEL") in (label.upper(), label.lower()):
                found.append(device)
    allow_loop = os.environ.get(CDROM_LOOP_ENV) == "1"
    found = [
        d for d in found if allow_loop or not posixpath.basename(d).startswith(("loop", "ram"))
    ]
    found += sorted(glob.glob("/dev/sr[0-9]*"))
    return list(dict.fromkeys(found))


def blkid_devices(export: str) -> list[tuple[str, dict[str, str]]]:
    """(DEVNAME, tags) of each block of `blkid -o export` output."""
    devices = []
    for block in export.split("\n\n"):
        tags = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "DEVNAME" in tags:
            devices.append((tags["DEVNAME"], tags))
    return devices


def read_cdrom(runner: Runner, kind: str, device: str, deadline: float) -> bytes | None:
    """The first user-data file on `device`: read in place from an ISO 9660
    filesystem, else mounted read-only (vfat) as yip mounts every drive.

    Done by `deadline`: the in-place read runs in a thread that is abandoned
    (a drive that hangs a read cannot be interrupted) when time runs out; the
    mount gets what is left, its umount always MOUNT_TIMEOUT.
    """
    import threading

    from executor.modules import iso9660

    outcome: list[bytes | Exception | None] = []

    def read() -> None:
        try:
            outcome.append(
                next(
                    (
                        data
                        for name in CDROM_FILES[kind]
                        if (data := iso9660.read_file(device, name))
                    ),
                    None,
                )
            )
        except Exception as exc:  # handed to the caller: a thread must not print it
            outcome.append(exc)

    left = _left(deadline)
    if left <= 0:
        log.warning("datasource %s: out of time, %s not read", kind, device)
        return None
    reader = threading.Thread(target=read, name=f"read {device}", daemon=True)
    reader.start()
    reader.join(left)
    if not outcome:
        log.warning(
            "datasource %s: reading %s did not end by the datasource deadline; given up",
            kind,
            device,
        )
        return None
    result = outcome[0]
    if isinstance(result, iso9660.NotIso):
        return _read_mounted(runner, kind, device, deadline)
    if isinstance(result, Exception):  # unreadable, or not a well-formed ISO 9660
        reason = result.strerror if isinstance(result, OSError) else None
        log.warning("datasource %s: cannot read %s: %s", kind, device, reason or result)
        return None
    return result


def _read_mounted(runner: Runner, kind: str, device: str, deadline: float) -> bytes | None:
    from executor.modules.mounts import in_temporary_mount

    def first_file(where: str) -> bytes | None:
        for name in CDROM_FILES[kind]:
            try:
                with open(os.path.join(where, name), "rb") as f:
                    data = f.read(16 << 20)
            except OSError:
                continue
            if data:
                return data
        return None

    left = min(MOUNT_TIMEOUT, _left(deadline))
    if left <= 0:
        log.warning("datasource %s: out of time, %s not mounted", kind, device)
        return None
    try:
        return in_temporary_mount(
            runner,
            device,
            first_file,
            prefix="stage-executor-cd.",
            timeout=left,
            options=("-t", "vfat", "-o", "ro"),
            why="(it is not ISO 9660) as vfat",
            umount_timeout=MOUNT_TIMEOUT,
        )
    except StepError as exc:
        log.warning("datasource %s: %s", kind, exc)
        return None
