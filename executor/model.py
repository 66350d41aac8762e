"""The typed, frozen configuration model made by the loader.

Config is data: nothing here touches the filesystem or knows about a run.
Every object keeps the position of its YAML node so that a later failure can
still point at the line that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping

from executor.record import dataclass, field


@dataclass(frozen=True)
class Position:
    source: str
    line: int = 0
    column: int = 0
    path: str = ""  # config path of the node, such as stages.boot[0].files[1]

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}" if self.line else self.source


@dataclass(frozen=True)
class DirectorySpec:
    path: str
    permissions: int | None = None
    owner: int | None = None
    group: int | None = None
    pos: Position | None = None


@dataclass(frozen=True)
class FileSpec:
    path: str
    content: str = ""
    encoding: str = ""
    permissions: int | None = None
    owner: int | None = None
    group: int | None = None
    owner_string: str = ""
    pos: Position | None = None


@dataclass(frozen=True)
class OverrideSpec:
    service: str
    name: str = ""
    content: str = ""
    pos: Position | None = None


@dataclass(frozen=True)
class SystemctlSpec:
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    unmask: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    overrides: tuple[OverrideSpec, ...] = ()

    def is_empty(self) -> bool:
        return not (
            self.enable or self.disable or self.mask or self.unmask or self.start or self.overrides
        )

    def __bool__(self) -> bool:  # false when empty, as the other modules' empty values
        return not self.is_empty()


@dataclass(frozen=True)
class DnsSpec:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    path: str = ""
    pos: Position | None = None


@dataclass(frozen=True)
class UserSpec:
    """One entry of `users`; `name` is its mapping key."""

    name: str
    passwd: str = ""
    lock_passwd: bool = False
    uid: str = ""
    gid: str = ""
    primary_group: str = ""
    groups: tuple[str, ...] = ()
    gecos: str = ""
    homedir: str = ""
    no_create_home: bool = False
    shell: str = ""
    ssh_authorized_keys: tuple[str, ...] = ()
    pos: Position | None = None


@dataclass(frozen=True)
class EntitySpec:
    entity: str  # YAML text of the entry, templated before it is read
    path: str = ""
    pos: Position | None = None


@dataclass(frozen=True)
class DownloadSpec:
    url: str
    path: str
    permissions: int | None = None
    owner: int | None = None
    group: int | None = None
    owner_string: str = ""
    timeout: int = 0
    pos: Position | None = None


@dataclass(frozen=True)
class IfFiles:
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One step of a stage, as written in a source."""

    stage: str
    index: int  # position of the step in its stage list
    name: str = ""
    if_: str = ""
    if_files: IfFiles | None = None
    only_os: str = ""
    only_os_version: str = ""
    only_arch: str = ""
    only_service_manager: str = ""
    node: str = ""
    after: tuple[str, ...] = ()
    # Where each `after` entry's name was written, index for index with `after`.
    after_pos: tuple[Position, ...] = ()
    directories: tuple[DirectorySpec, ...] = ()
    files: tuple[FileSpec, ...] = ()
    commands: tuple[str, ...] = ()
    systemctl: SystemctlSpec = field(default_factory=SystemctlSpec)
    environment: Mapping[str, str] = field(default_factory=dict)
    environment_file: str = ""
    sysctl: Mapping[str, str] = field(default_factory=dict)
    hostname: str = ""
    dns: DnsSpec | None = None
    kernel_modules: tuple[str, ...] = ()  # the `modules` key
    users: tuple[UserSpec, ...] = ()
    authorized_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ensure_entities: tuple[EntitySpec, ...] = ()
    delete_entities: tuple[EntitySpec, ...] = ()
    timesyncd: Mapping[str, str] = field(default_factory=dict)
    systemd_firstboot: Mapping[str, str] = field(default_factory=dict)
    downloads: tuple[DownloadSpec, ...] = ()
    # Every module key the step uses, as plain YAML data (the unsupported
    # modules have only this).
    modules: Mapping[str, object] = field(default_factory=dict)
    pos: Position | None = None


@dataclass(frozen=True)
class Config:
    """One parsed source document (a file, a URL body, stdin or the cmdline)."""

    source: str  # path or URL as reported (inside the root for default sources)
    name: str  # top-level `name`, or "" when absent
    stages: Mapping[str, tuple[Step, ...]]
    group: str = ""  # the source argument or default dir this document came from
    path: str = ""  # as given on the command line (or in-root), for the full name

    @property
    def display_name(self) -> str:
        """Config part of a step's full name: its `name`, else its path."""
        return self.name or self.path or self.source
