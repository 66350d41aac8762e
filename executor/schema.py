"""The config format as data: one type tree drives the loader and `schema`.

The loader converts YAML nodes by walking these types, and `json_schema()`
renders the very same tree, so the documented schema and the accepted input
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from executor import build as B
from executor.record import dataclass, field

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any


class Type:
    """Base of the format's types."""

    label = "value"

    def json_schema(self) -> dict[str, object]:
        raise NotImplementedError


# The value checks `validate.check_value` knows, by the name a Str carries.
REGEX, CONDITION, TEMPLATE, ENCODING, UNIT, DROPIN, SERVICE_MANAGER, STAGE = (
    "regex",
    "condition",
    "template",
    "encoding",
    "unit",
    "dropin",
    "service_manager",
    "stage",
)
ABSPATH = "abspath"  # a path the run writes: absolute, inside the root

# A unit name as systemd accepts it (unit_name_is_valid): these characters,
# an optional instance after `@`; a missing suffix means `.service`.
UNIT_PATTERN = r"^\s*[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\s*$"


@dataclass(frozen=True)
class Str(Type):
    """A string; YAML numbers and booleans are read as their text, as yip does.

    `check` names what the text must also be (a regex, a shell condition, a
    template, ...): the loader asks `validate.check_value` about it, with the
    node's position at hand.
    """

    check: str = ""
    label = "a string"

    def json_schema(self) -> dict[str, object]:
        # null is an empty string to the loader, as to yip's YAML decoder.
        out: dict[str, object] = {"type": ["string", "number", "boolean", "null"]}
        if self.check == REGEX:
            out["format"] = "regex"
        elif self.check == ENCODING:
            from executor.modules.files import ENCODINGS  # the files module owns the spellings

            names = "|".join(sorted(e.replace("+", "\\+") for e in ENCODINGS if e))
            out = {"type": ["string", "null"], "pattern": f"^\\s*({names})?\\s*$"}
        elif self.check == UNIT:
            out = {"type": ["string", "number", "boolean"], "pattern": UNIT_PATTERN}
        elif self.check == DROPIN:
            out["pattern"] = "^[^/]*$"
            out["not"] = {"enum": [".", ".."]}
        return out


@dataclass(frozen=True)
class Int(Type):
    label = "an integer"

    def json_schema(self) -> dict[str, object]:
        return {"type": "integer"}


@dataclass(frozen=True)
class Bool(Type):
    label = "a boolean"

    def json_schema(self) -> dict[str, object]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Mode(Type):
    """File permissions: a YAML int (0644 is octal) or an octal string."""

    label = "a file mode"

    def json_schema(self) -> dict[str, object]:
        # The string forms convert.parse_mode_string accepts: "0644", "644", "0o644".
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 0o7777},
                {"type": "string", "pattern": "^\\s*(0[oO])?0?[0-7]{1,4}\\s*$"},
            ]
        }


@dataclass(frozen=True)
class AnyValue(Type):
    """Any YAML value; the module that owns the key checks it further."""

    label = "a value"

    def json_schema(self) -> dict[str, object]:
        return {}


@dataclass(frozen=True)
class ListOf(Type):
    item: Type
    label = "a list"

    def json_schema(self) -> dict[str, object]:
        # An empty key (`files:`) is null in YAML; the loader reads it as [].
        return {"type": ["array", "null"], "items": self.item.json_schema()}


@dataclass(frozen=True)
class MapOf(Type):
    value: Type
    key_check: str = ""  # what each key must also be, as Str.check
    label = "a mapping"

    def json_schema(self) -> dict[str, object]:
        return {"type": ["object", "null"], "additionalProperties": self.value.json_schema()}


class Field:
    """One key of an Obj: its type and a line of documentation.

    A plain class, not a record: the schema makes about 150 of them at every
    start, and a record's generic __init__ costs several times this one.
    """

    __slots__ = ("doc", "type")

    def __init__(self, type: Type, doc: str = "") -> None:
        self.type = type
        self.doc = doc

    def __repr__(self) -> str:
        return f"Field({self.type!r}, {self.doc!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return (self.type, self.doc) == (other.type, other.doc)

    def __hash__(self) -> int:
        return hash((self.type, self.doc))


@dataclass(frozen=True)
class Obj(Type):
    """A mapping with known keys; unknown keys are warnings."""

    name: str
    fields: Mapping[str, Field] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    # An open mapping (the top level of a Kairos config carries `install:`,
    # `k3s:` and more) reports only unknown keys that look like typos.
    open: bool = False
    # A check of the whole mapping, for rules that tie keys together (a
    # file's content must decode with its encoding): see validate.check_object.
    check: str = ""
    label = "a mapping"

    def json_schema(self) -> dict[str, object]:
        props = {}
        for key, fld in self.fields.items():
            sub = dict(fld.type.json_schema())
            if fld.doc:
                sub["description"] = fld.doc
            props[key] = sub
        # null is an empty mapping to the loader; one with required keys is an error.
        kind: object = "object" if self.required else ["object", "null"]
        out: dict[str, object] = {"type": kind, "properties": props}
        if self.required:
            out["required"] = list(self.required)
        if not self.open:
            # Unknown keys are warnings to the loader and errors under --strict;
            # the schema is the strict form, so an editor underlines typos.
            out["additionalProperties"] = False
        return out


STR = Str()
INT = Int()
BOOL = Bool()
MODE = Mode()
ANY = AnyValue()
STR_LIST = ListOf(STR)
STR_MAP = MapOf(STR)
REGEX_STR = Str(REGEX)
TEMPLATE_STR = Str(TEMPLATE)
UNIT_LIST = ListOf(Str(UNIT))

DIRECTORY = Obj(
    "directory",
    {
        "path": Field(Str(ABSPATH), "absolute path inside the root"),
        "permissions": Field(MODE, "mode; a new directory gets 0755 when omitted"),
        "owner": Field(INT, "numeric uid"),
        "group": Field(INT, "numeric gid"),
    },
    required=("path",),
)

FILE = Obj(
    "file",
    {
        "path": Field(Str(ABSPATH), "absolute path inside the root"),
        "content": Field(STR, "file content, encoded as `encoding` says (templated)"),
        "encoding": Field(Str(ENCODING), "b64, base64, gz, gzip, gz+b64, gzip+base64, ..."),
        "permissions": Field(MODE, "mode; a new file gets 0644 when omitted"),
        "owner": Field(INT, "numeric uid"),
        "group": Field(INT, "numeric gid"),
        "owner_string": Field(STR, "user or user:group, resolved in the root"),
        # yip's File struct has no yaml tag for this field, so the key yip
        # really reads is the lowercased Go name; its README says owner_string.
        "ownerstring": Field(STR, "same as owner_string (the key yip itself reads)"),
    },
    required=("path",),
    check="file",
)

OVERRIDE = Obj(
    "override",
    {
        "service": Field(Str(UNIT), "unit the drop-in is for"),
        "name": Field(Str(DROPIN), "drop-in name, default override-yip.conf"),
        "content": Field(STR, "drop-in content"),
    },
    required=("service",),
)

SYSTEMCTL = Obj(
    "systemctl",
    {
        "enable": Field(UNIT_LIST, "units to enable"),
        "disable": Field(UNIT_LIST, "units to disable"),
        "mask": Field(UNIT_LIST, "units to mask"),
        "unmask": Field(UNIT_LIST, "units to unmask"),
        "start": Field(UNIT_LIST, "units to start (running system only)"),
        "overrides": Field(ListOf(OVERRIDE), "drop-in files"),
    },
)

IF_FILES = Obj(
    "if_files",
    {"any": Field(STR_LIST), "all": Field(STR_LIST), "none": Field(STR_LIST)},
)

AFTER = Obj("after", {"name": Field(STR, "full name CONFIG.STEP")}, required=("name",))

DNS = Obj(
    "dns",
    {
        "nameservers": Field(STR_LIST, "nameserver lines; nothing is written without one"),
        "search": Field(STR_LIST, "search domains"),
        "options": Field(STR_LIST, "resolver options"),
        "path": Field(STR, "file to write, default /etc/resolv.conf"),
    },
)

USER = Obj(
    "user",
    {
        "name": Field(STR, "ignored: the mapping key is the user name, as in yip"),
        "passwd": Field(STR, "password: a crypt hash ($...) is kept, a plain one is hashed"),
        "lock_passwd": Field(BOOL, "lock the password (`!`) of a new user"),
        "uid": Field(STR, "numeric uid of a new user"),
        "gid": Field(STR, "numeric gid of a new user's own group"),
        "primary_group": Field(STR, "existing group to use as primary group"),
        "groups": Field(STR_LIST, "existing groups the new user joins"),
        "gecos": Field(STR, "comment field"),
        "homedir": Field(STR, "home directory, default HOME/NAME"),
        "no_create_home": Field(BOOL, "do not create the home directory"),
        "shell": Field(STR, "login shell, default from /etc/default/useradd or /bin/sh"),
        "ssh_authorized_keys": Field(STR_LIST, "keys (or github:/gitlab: names) to authorize"),
        "no_user_group": Field(BOOL, "accepted and ignored, as in yip"),
        "system": Field(BOOL, "accepted and ignored, as in yip"),
        "no_log_init": Field(BOOL, "accepted and ignored, as in yip"),
    },
)

ENTITY = Obj(
    "entity",
    {
        "entity": Field(
            TEMPLATE_STR, "YAML text of a user, group, shadow or gshadow entry (templated)"
        ),
        "path": Field(STR, "file to edit, default the kind's /etc file"),
    },
    required=("entity",),
)

DOWNLOAD = Obj(
    "download",
    {
        "url": Field(STR, "http(s) URL; TLS certificates are verified"),
        "path": Field(STR, "file to write, inside the root"),
        "permissions": Field(MODE, "mode; a new file gets 0644 when omitted"),
        "owner": Field(INT, "numeric uid"),
        "group": Field(INT, "numeric gid"),
        "owner_string": Field(STR, "user or user:group, resolved in the root"),
        "ownerstring": Field(STR, "same as owner_string (the key yip itself reads)"),
        "timeout": Field(INT, "seconds for the transfer"),
    },
    required=("url", "path"),
)

DATASOURCE = Obj(
    "datasource",
    {"providers": Field(STR_LIST), "path": Field(STR), "userdata_name": Field(STR)},
)
LAYOUT = Obj(
    "layout",
    {
        "device": Field(
            Obj(
                "layout device",
                {
                    "label": Field(STR),
                    "path": Field(STR),
                    "init_disk": Field(BOOL),
                    "disk_name": Field(STR),
                },
            )
        ),
        "expand_partition": Field(Obj("expand_partition", {"size": Field(INT)})),
        "add_partitions": Field(
            ListOf(
                Obj(
                    "partition",
                    {
                        "fsLabel": Field(STR),
                        "size": Field(INT),
                        "pLabel": Field(STR),
                        "filesystem": Field(STR),
                        "bootable": Field(BOOL),
                    },
                )
            )
        ),
    },
)
# Recognised so that a step using them fails loudly instead of silently
# doing nothing; typed so that validation still checks their shape.
GIT = Obj(
    "git",
    {
        "url": Field(STR),
        "path": Field(STR),
        "branch": Field(STR),
        "branch_only": Field(BOOL),
        "auth": Field(
            Obj(
                "git auth",
                {
                    "username": Field(STR),
                    "password": Field(STR),
                    "private_key": Field(STR),
                    "insecure": Field(BOOL),
                    "public_key": Field(STR),
                },
            )
        ),
    },
)
PACKAGES = Obj(
    "packages",
    {
        "install": Field(STR_LIST),
        "remove": Field(STR_LIST),
        "refresh": Field(BOOL),
        "upgrade": Field(BOOL),
    },
)
UNPACK_IMAGE = Obj(
    "unpack_image", {"source": Field(STR), "target": Field(STR), "platform": Field(STR)}
)


@dataclass(frozen=True)
class ModuleKey:
    """One module key of a step, declared once.

    The step's schema (and so the loader's checks), the Step the loader
    builds, the planners and `modules.used_modules` are all derived from the
    table of these, STEP_MODULES: a new module is one entry here, a planner
    in executor/modules/ and, if it has a typed attribute, a field of
    model.Step and a builder in build.py (tests/test_step_table.py checks
    that they agree).
    """

    key: str  # the config key
    field: Field  # its type (which the loader converts by) and documentation
    # The Step attribute it fills and the builder of that attribute from the
    # converted value; without one the module reads its plain data from
    # Step.modules (which holds every key used, whatever its attribute).
    attr: str = ""
    build: Callable[[Any], object] | None = None
    # Its place in yip's module order (pkg/executor's default plugins);
    # 0: an option of another module (environment_file), not run by itself.
    run: int = 0
    # "module.function" in executor.modules, imported when a step first uses
    # it; "": recognised, so a step using it fails loudly, but not supported.
    planner: str = ""
    # The Step attributes handed to the planner after the run context;
    # default: its own attribute.
    takes: tuple[str, ...] = ()

    @property
    def planner_args(self) -> tuple[str, ...]:
        return self.takes or (self.attr,)


# A step's module keys, in the order the schema documents them.
STEP_MODULES: tuple[ModuleKey, ...] = (
    ModuleKey(
        "directories",
        Field(ListOf(DIRECTORY), "directories to create"),
        "directories",
        B.each(B.directory_spec),
        run=5,
        planner="directories.plan_directories",
    ),
    ModuleKey(
        "files",
        Field(ListOf(FILE), "files to write"),
        "files",
        B.each(B.file_spec),
        run=6,
        planner="files.plan_files",
    ),
    ModuleKey(
        "commands",
        Field(ListOf(TEMPLATE_STR), "shell commands (templated), run with /bin/sh -c"),
        "commands",
        B.texts,
        run=7,
        planner="commands.plan_commands",
    ),
    ModuleKey(
        "systemctl",
        Field(SYSTEMCTL, "unit enable/disable/mask/start/overrides"),
        "systemctl",
        B.systemctl_spec,
        run=15,
        planner="systemctl.plan_systemctl",
    ),
    ModuleKey(
        "environment",
        Field(MapOf(TEMPLATE_STR), "KEY=VALUE pairs merged into the environment file"),
        "environment",
        B.str_map,
        run=16,
        planner="environment.plan_environment",
        takes=("environment", "environment_file"),
    ),
    ModuleKey(
        "environment_file",
        Field(STR, "file for `environment`, default /etc/environment"),
        "environment_file",
        B.text,
    ),
    ModuleKey(
        "sysctl",
        Field(STR_MAP, "kernel parameters"),
        "sysctl",
        B.str_map,
        run=10,
        planner="sysctl.plan_sysctl",
    ),
    ModuleKey(
        "hostname",
        Field(TEMPLATE_STR, "host name (templated)"),
        "hostname",
        B.text,
        run=9,
        planner="hostname.plan_hostname",
    ),
    ModuleKey(
        "dns", Field(DNS, "resolv.conf settings"), "dns", B.dns_spec, run=1, planner="dns.plan_dns"
    ),
    ModuleKey(
        "modules",
        Field(STR_LIST, "kernel modules to load"),
        "kernel_modules",
        B.texts,
        run=13,
        planner="kmodules.plan_kernel_modules",
    ),
    ModuleKey(
        "users",
        Field(MapOf(USER), "users to create, by name"),
        "users",
        B.user_specs,
        run=11,
        planner="users.plan_users",
    ),
    ModuleKey(
        "ensure_entities",
        Field(ListOf(ENTITY), "passwd/group/shadow entries to ensure"),
        "ensure_entities",
        B.entity_specs,
        run=4,
        planner="entities.plan_ensure_entities",
    ),
    ModuleKey(
        "delete_entities",
        Field(ListOf(ENTITY), "passwd/group/shadow entries to delete"),
        "delete_entities",
        B.entity_specs,
        run=8,
        planner="entities.plan_delete_entities",
    ),
    ModuleKey(
        "timesyncd",
        Field(STR_MAP, "[Time] settings of timesyncd"),
        "timesyncd",
        B.str_map,
        run=14,
        planner="timesyncd.plan_timesyncd",
    ),
    ModuleKey(
        "systemd_firstboot",
        Field(STR_MAP, "systemd-firstboot settings"),
        "systemd_firstboot",
        B.str_map,
        run=17,
        planner="firstboot.plan_firstboot",
    ),
    ModuleKey(
        "downloads",
        Field(ListOf(DOWNLOAD), "files to download"),
        "downloads",
        B.each(B.download_spec),
        run=2,
        planner="downloads.plan_downloads",
    ),
    ModuleKey(
        "datasource",
        Field(DATASOURCE, "user-data from the first cloud provider that answers"),
        run=18,
        planner="datasource.plan_datasource",
        takes=("modules",),
    ),
    ModuleKey(
        "layout",
        Field(LAYOUT, "grow the last partition, add partitions"),
        run=19,
        planner="layout.plan_layout",
        takes=("modules",),
    ),
    ModuleKey("git", Field(GIT, "git checkout (not supported)"), run=3),
    ModuleKey("packages", Field(PACKAGES, "packages to install (not supported)"), run=21),
    ModuleKey("package_pins", Field(STR_MAP, "package version pins (not supported)"), run=20),
    ModuleKey(
        "unpack_images",
        Field(ListOf(UNPACK_IMAGE), "container images to unpack (not supported)"),
        run=22,
    ),
    ModuleKey(
        "authorized_keys",
        Field(MapOf(STR_LIST), "SSH keys by user"),
        "authorized_keys",
        B.key_lists,
        run=12,
        planner="authorized_keys.plan_authorized_keys",
    ),
)

MODULES_BY_KEY = {m.key: m for m in STEP_MODULES}
# The module keys with their types, in the schema's order.
MODULE_KEYS: dict[str, Field] = {m.key: m.field for m in STEP_MODULES}

# Modules that are recognised but not implemented: a step using one fails.
UNSUPPORTED_MODULES = tuple(m.key for m in STEP_MODULES if m.run and not m.planner)

STEP = Obj(
    "step",
    {
        "name": Field(STR, "step name, used in logs, reports and `after`"),
        "if": Field(Str(CONDITION), "shell condition; the step runs only if it exits 0"),
        "if_files": Field(IF_FILES, "existence checks in the root"),
        "only_os": Field(REGEX_STR, "regex on NAME/ID of /etc/os-release"),
        "only_os_version": Field(REGEX_STR, "regex on VERSION_ID of /etc/os-release"),
        "only_arch": Field(REGEX_STR, "regex on the machine architecture"),
        "only_service_manager": Field(Str(SERVICE_MANAGER), "systemd or openrc"),
        "node": Field(REGEX_STR, "regex on the hostname"),
        "after": Field(ListOf(AFTER), "steps this step runs after"),
        **MODULE_KEYS,
    },
)

# The cloud-init keys a `#cloud-config` document may carry at the top level
# (cloudconfig.py maps them into steps as yip does).
WRITE_FILE = Obj(
    "write_files entry",
    {
        "path": Field(Str(ABSPATH), "absolute path inside the root"),
        "content": Field(STR, "file content, encoded as `encoding` says"),
        "encoding": Field(STR, "b64, base64, gz, gzip, gz+b64, gzip+base64, ..."),
        "owner": Field(STR, "user or user:group, resolved in the root"),
        "permissions": Field(STR, "octal mode as text, e.g. '0644'"),
    },
    required=("path",),
)

CLOUD_USER = Obj(
    "cloud-config user",
    {
        "name": Field(STR, "user name"),
        "passwd": Field(STR, "password hash (or plain text, hashed by the users module)"),
        "ssh_authorized_keys": Field(STR_LIST, "keys for this user (github:NAME fetched)"),
        "gecos": Field(STR),
        "homedir": Field(STR),
        "no_create_home": Field(BOOL),
        "primary_group": Field(STR),
        "groups": Field(STR_LIST),
        "no_user_group": Field(BOOL),
        "system": Field(BOOL),
        "no_log_init": Field(BOOL),
        "shell": Field(STR),
        "lock_passwd": Field(BOOL),
        "uid": Field(STR),
        "gid": Field(STR, "accepted and ignored, as yip does"),
    },
    required=("name",),
)

CLOUD_CONFIG_FIELDS: dict[str, Field] = {
    "write_files": Field(ListOf(WRITE_FILE), "#cloud-config: files written in `boot`"),
    "runcmd": Field(STR_LIST, "#cloud-config: commands run in `boot`"),
    "hostname": Field(STR, "#cloud-config: host name set in `initramfs`"),
    "users": Field(ListOf(CLOUD_USER), "#cloud-config: users created in `boot`"),
    "ssh_authorized_keys": Field(STR_LIST, "#cloud-config: keys for every user (or root)"),
}

# A document without the `#cloud-config` header: yip ignores the cloud-init keys.
YIP_CONFIG = Obj(
    "config",
    {
        "name": Field(STR, "config name, the first part of a step's full name"),
        "stages": Field(MapOf(ListOf(STEP), key_check=STAGE), "stage name -> steps"),
    },
    open=True,
)

CONFIG = Obj("config", {**YIP_CONFIG.fields, **CLOUD_CONFIG_FIELDS}, open=True)


def json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of a source document."""
    doc = CONFIG.json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "stage-executor cloud-config"
    doc["description"] = (
        "yip/Kairos cloud-config stages as stage-executor reads them. Keys beside"
        " `name` and `stages` (install:, k3s:, ...) belong to other tools and are allowed."
    )
    return doc
