"""Finding and reading sources: files, directories (in the root or on the
host), and later URLs, stdin and the kernel command line.

Only regular files are ever opened: a FIFO, socket or device in a config
directory is skipped with a warning, so it cannot hang the boot.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from executor.errors import Problem, RootError
from executor.root import Root

DEFAULT_DIRS = ("/system/oem", "/oem", "/usr/local/cloud-config")
MAX_SOURCE_BYTES = 16 << 20  # a cloud-config larger than this is refused
CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Document:
    """The text of one source document, and how to name it.

    `source` is what reports and errors show (an absolute host path, or the
    path inside the root for default sources); `name` is the path as given,
    which names its steps when the document has no `name`.
    """

    name: str
    text: str
    source: str = ""


@dataclass
class SourceGroup:
    """One source argument (or default dir): its documents run as one graph."""

    label: str
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _warn(group: SourceGroup, name: str, message: str) -> None:
    group.problems.append(Problem("warning", _shown(name), 0, 0, "", message))


def _error(group: SourceGroup, name: str, message: str) -> None:
    group.problems.append(Problem("error", _shown(name), 0, 0, "", message))


def _shown(name: str) -> str:
    """How a source is named in problems: in-root paths as they are, host paths absolute."""
    return name if name.startswith("/") else os.path.abspath(name)


def _is_config_name(name: str) -> bool:
    return name.endswith(CONFIG_SUFFIXES)


def read_root_dir(root: Root, directory: str) -> SourceGroup:
    """A default source dir, read inside the root; names are in-root paths."""
    group = SourceGroup(directory)
    for path, node in root.walk_files(directory):
        if not _is_config_name(path):
            continue
        if node is None:
            _warn(group, path, "skipped: dangling symlink")
            continue
        if node.kind != "file":
            _warn(group, path, "skipped: not a regular file")
            continue
        try:
            data = root.read_bytes(path, limit=MAX_SOURCE_BYTES)
        except RootError as exc:
            _error(group, path, f"cannot read: {exc}")
            continue
        group.documents.append(Document(path, _decode(data), path))
    return group


def read_host_source(spec: str) -> SourceGroup:
    """An explicit SOURCE argument on the host: a file or a directory tree."""
    group = SourceGroup(spec)
    try:
        st = os.stat(spec)
    except OSError as exc:
        _error(group, spec, f"cannot read source: {exc.strerror}")
        return group
    if stat.S_ISDIR(st.st_mode):
        for path in sorted(_walk_host(spec)):
            _read_host_file(group, path)
    else:
        _read_host_file(group, spec)
    return group


def _walk_host(directory: str) -> list[str]:
    out: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return out
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            out += _walk_host(entry.path)
        elif _is_config_name(entry.name):
            out.append(entry.path)
    return out


def _read_host_file(group: SourceGroup, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        _warn(group, path, "skipped: dangling symlink or unreadable")
        return
    if not stat.S_ISREG(st.st_mode):
        _warn(group, path, "skipped: not a regular file")
        return
    if st.st_size > MAX_SOURCE_BYTES:
        _error(group, path, f"refused: larger than {MAX_SOURCE_BYTES} bytes")
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        _error(group, path, f"cannot read: {exc.strerror}")
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            _warn(group, path, "skipped: not a regular file")
            return
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_SOURCE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SOURCE_BYTES:
        _error(group, path, f"refused: larger than {MAX_SOURCE_BYTES} bytes")
        return
    group.documents.append(Document(path, _decode(data), os.path.abspath(path)))


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
