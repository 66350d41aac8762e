"""Finding and reading sources: directories and files (in the root or on the
host), `-` (stdin), http(s) URLs, and the kernel command line.

Each source argument (or default dir) becomes one SourceGroup: its documents
form one graph (order.py). A directory is walked recursively and its regular
`.yaml`/`.yml` files are read in lexical order of their full path. Only
regular files are ever opened: a FIFO, socket or device in a config directory
is skipped with a warning, so it cannot hang the boot; so is a dangling link,
and a directory reached twice through symlinks is walked once.

A URL is fetched with a connect/read timeout and a bounded number of
attempts; failing is an error of that source, never a hang.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable

from executor.errors import Problem, RootError, SourceError
from executor.log import log
from executor.record import dataclass, field
from executor.root import Root

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import BinaryIO

    from yaml.nodes import MappingNode

DEFAULT_DIRS = ("/system/oem", "/oem", "/usr/local/cloud-config")
MAX_SOURCE_BYTES = 16 << 20  # a cloud-config larger than this is refused
CONFIG_SUFFIXES = (".yaml", ".yml")
STDIN = "-"
STDIN_NAME = "<STDIN>"  # yip's name for a document read from stdin
URL_SCHEMES = ("http://", "https://")
CMDLINE_PATH = "/proc/cmdline"  # here, so a root without one needs no cmdline parser
URL_TIMEOUT = 10.0  # seconds, for the connection and for each read
URL_ATTEMPTS = 3
URL_BACKOFF = 0.5  # seconds before the 2nd attempt, doubled for each next one


@dataclass(frozen=True)
class Document:
    """The text of one source document, and how to name it.

    `source` is what reports and errors show (an absolute host path, or the
    path inside the root for default sources, or a URL); `name` is the path as
    given, which names its steps when the document has no `name`. `node` is
    set instead of `text` for the kernel command line's document.
    """

    name: str
    text: str
    source: str = ""
    node: MappingNode | None = None


@dataclass
class SourceGroup:
    """One source argument (or default dir): its documents run as one graph.

    `rescan` reads the source again: a default dir is read anew before each
    substage, as kairos-agent does, so a file written by `initramfs.before`
    (the datasource's userdata, say) takes part in `initramfs`.
    """

    label: str
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rescan: Callable[[], SourceGroup] | None = None


def _warn(group: SourceGroup, name: str, message: str) -> None:
    group.problems.append(Problem("warning", _shown(name), 0, 0, "", message))


def _error(group: SourceGroup, name: str, message: str) -> None:
    group.problems.append(Problem("error", _shown(name), 0, 0, "", message))


def _shown(name: str) -> str:
    """How a source is named in problems: in-root paths and URLs as they are,
    host paths made absolute."""
    if name.startswith("/") or name == STDIN_NAME or is_url(name) or "://" in name:
        return name
    return os.path.abspath(name)


def _is_config_name(name: str) -> bool:
    return name.endswith(CONFIG_SUFFIXES)


def is_url(spec: str) -> bool:
    return spec[:8].lower().startswith(URL_SCHEMES)


# -- inside the root -------------------------------------------------------------


def read_root_dir(root: Root, directory: str) -> SourceGroup:
    """A default source dir, read inside the root; names are in-root paths.

    A missing directory is no source at all (kairos-agent creates them).
    """
    group = read_root_source(root, directory, missing_ok=True)
    group.rescan = lambda: read_root_dir(root, directory)
    return group


def read_root_source(root: Root, path: str, *, missing_ok: bool = False) -> SourceGroup:
    """A file or directory inside the root (a default dir, or `cos.setup=/path`)."""
    group = SourceGroup(path)
    try:
        node = root.lookup(path)
    except RootError as exc:
        _error(group, path, f"cannot read source: {exc}")
        return group
    if node is None:
        if not missing_ok:
            _error(group, path, "cannot read source: no such file or directory in the root")
        return group
    if node.kind != "dir":
        _read_root_file(root, group, path, node.kind)
        return group
    for file_path, kind in sorted(_walk_root(root, path, group)):
        _read_root_file(root, group, file_path, kind)
    if not missing_ok:  # named on purpose (cos.setup=DIR): an empty one is a mistake
        _no_documents(group, path)
    return group


def _walk_root(root: Root, directory: str, group: SourceGroup) -> list[tuple[str, str]]:
    """(in-root path, kind) of every config-named entry below `directory`."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    todo = [directory.rstrip("/") or "/"]
    while todo:
        current = todo.pop()
        try:
            resolved = root.resolve(current)
            if resolved.rel in seen:
                continue  # reached again through a symlink
            seen.add(resolved.rel)
            names = root.listdir(current)
        except RootError as exc:
            _error(group, current, f"cannot read directory: {exc}")
            continue
        for name in names:
            child = current.rstrip("/") + "/" + name
            try:
                r = root.resolve(child)
            except RootError as exc:
                _error(group, child, f"cannot read: {exc}")
                continue
            node = r.node if r.errno == 0 else None
            if node is not None and node.kind == "dir":
                todo.append(child)
            elif _is_config_name(child):
                out.append((child, "dangling" if node is None else node.kind))
            else:
                _not_config(child)
    return out


def _no_documents(group: SourceGroup, directory: str) -> None:
    if not group.documents and not group.problems:
        _warn(
            group,
            directory,
            "0 documents: no *.yaml or *.yml file in this directory"
            " (other files are skipped; -v names them)",
        )


def _not_config(path: str) -> None:
    # -v: a file someone dropped in /oem as `.yam` or `.conf` is not read,
    # and the operator looking at the log should see why
    log.debug("%s: skipped: not named *.yaml or *.yml", path)


def _read_root_file(root: Root, group: SourceGroup, path: str, kind: str) -> None:
    if kind == "dangling":
        _warn(group, path, "skipped: dangling symlink")
        return
    if kind != "file":
        _warn(group, path, "skipped: not a regular file (never opened)")
        return
    try:
        data = root.read_bytes(path, limit=MAX_SOURCE_BYTES)
    except RootError as exc:
        _error(group, path, f"cannot read: {exc}")
        return
    text = decode_source(group, path, data)
    if text is not None:
        group.documents.append(Document(path, text, path))


# -- on the host -------------------------------------------------------------------


def read_source_arg(
    spec: str, *, stdin: BinaryIO | None = None, timeout: float = URL_TIMEOUT
) -> SourceGroup:
    """An explicit SOURCE argument: `-`, an http(s) URL, a file or a directory."""
    if spec == STDIN:
        return read_stdin(stdin if stdin is not None else sys.stdin.buffer)
    if is_url(spec):
        return read_url(spec, timeout=timeout)
    if "://" in spec:
        group = SourceGroup(spec)
        _error(group, spec, "unsupported URL scheme (only http:// and https://)")
        return group
    return read_host_source(spec)


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
        _no_documents(group, spec)
    else:
        _read_host_file(group, spec)
    return group


def _walk_host(directory: str) -> list[str]:
    """Config-named entries below `directory`; each real directory walked once."""
    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    todo = [directory]
    while todo:
        current = todo.pop()
        try:
            st = os.stat(current)
            entries = list(os.scandir(current))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                todo.append(entry.path)
            elif _is_config_name(entry.name):
                out.append(entry.path)
            else:
                _not_config(entry.path)
    return out


def _read_host_file(group: SourceGroup, path: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        _warn(group, path, "skipped: dangling symlink or unreadable")
        return
    if not stat.S_ISREG(st.st_mode):
        _warn(group, path, "skipped: not a regular file (never opened)")
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
            _warn(group, path, "skipped: not a regular file (never opened)")
            return
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_SOURCE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SOURCE_BYTES:
        _error(group, path, f"refused: larger than {MAX_SOURCE_BYTES} bytes")
        return
    text = decode_source(group, path, data)
    if text is not None:
        group.documents.append(Document(path, text, os.path.abspath(path)))


def read_stdin(stream: BinaryIO) -> SourceGroup:
    """`-`: one document read from standard input, named `<STDIN>` as in yip."""
    group = SourceGroup(STDIN)
    try:
        data = stream.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        _error(group, STDIN_NAME, f"cannot read stdin: {exc.strerror}")
        return group
    if len(data) > MAX_SOURCE_BYTES:
        _error(group, STDIN_NAME, f"refused: larger than {MAX_SOURCE_BYTES} bytes")
        return group
    text = decode_source(group, STDIN_NAME, data)
    if text is not None:
        group.documents.append(Document(STDIN_NAME, text, STDIN_NAME))
    return group


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_source(group: SourceGroup, name: str, data: bytes) -> str | None:
    """A document's text, or None with an error in `group` when it is not text.

    UTF-8, as yip's YAML parser reads it: a byte that is not UTF-8 is an error
    at its FILE:LINE:COLUMN (never silently replaced, which would alter the
    content written to disk). Like yip, a UTF-16 file with a byte-order mark
    is read as UTF-16; without one it is named as UTF-16, not parsed.
    """
    if data[:2] in UTF16_BOMS:
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            _not_text(
                group,
                name,
                data,
                exc.start,
                "is UTF-16 (it starts with a byte-order mark) but does not decode as UTF-16",
                codec="utf-16",
            )
            return None
    if _utf16_without_bom(data):
        _not_text(
            group, name, data, 0, "looks like UTF-16 without a byte-order mark; save it as UTF-8"
        )
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _not_text(
            group,
            name,
            data,
            exc.start,
            f"byte 0x{data[exc.start]:02x} is not valid UTF-8; the config must be UTF-8 text",
        )
        return None


def _utf16_without_bom(data: bytes) -> bool:
    """ASCII text saved as UTF-16: a NUL in every other byte of its start."""
    head = data[:64]
    if len(head) < 4:
        return False
    return not any(head[0::2]) or not any(head[1::2])


def _not_text(
    group: SourceGroup, name: str, data: bytes, offset: int, message: str, *, codec: str = "utf-8"
) -> None:
    """An error at the line and column (in characters) of byte `offset`; the
    text before it is decoded with `codec`, so a UTF-16 file's newlines and
    characters (two bytes each, the byte-order mark not one) count right."""
    before = data[:offset].decode(codec, errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    group.problems.append(Problem("error", _shown(name), line, column, "", message))


# -- URLs ------------------------------------------------------------------------


def read_url(
    url: str,
    *,
    timeout: float = URL_TIMEOUT,
    attempts: int = URL_ATTEMPTS,
    backoff: float = URL_BACKOFF,
) -> SourceGroup:
    """One document fetched over http(s); a failure is an error of this source."""
    group = SourceGroup(url)
    try:
        data = fetch_url(url, timeout=timeout, attempts=attempts, backoff=backoff)
    except SourceError as exc:
        _error(group, url, f"cannot fetch: {exc}")
        return group
    text = decode_source(group, url, data)
    if text is not None:
        group.documents.append(Document(url, text, url))
    return group


def fetch_url(
    url: str, *, timeout: float, attempts: int = URL_ATTEMPTS, backoff: float = URL_BACKOFF
) -> bytes:
    """The body at `url`, through the one fetcher (executor/fetch.py). Bounded:
    at most `attempts` tries, each with `timeout` for the connection, for every
    read and for the whole body, so a server that drips bytes cannot hold the
    boot either.
    """
    from executor import fetch  # only when a URL is given: boot time

    try:
        return fetch.fetch(
            url,
            timeout=timeout,
            retries=max(1, attempts) - 1,
            backoff=backoff,
            attempt_limit=timeout,
            limit=MAX_SOURCE_BYTES,
        )
    except fetch.FetchError as exc:
        if not exc.exhausted:
            raise SourceError(exc.reason) from None
        tries = "1 attempt" if exc.attempts <= 1 else f"{exc.attempts} attempts"
        raise SourceError(f"{exc.reason} (gave up after {tries})") from None


# -- the kernel command line ----------------------------------------------------------


def read_cmdline_sources(
    root: Root, text: str | None = None, *, timeout: float = URL_TIMEOUT
) -> list[SourceGroup]:
    """Sources named by the kernel command line, then its dot-notation document.

    `text` replaces the root's /proc/cmdline (the `--cmdline` what-if). A root
    without /proc/cmdline (an image tree) has no command line sources.
    """
    if text is None:
        try:
            text = root.read_bytes(CMDLINE_PATH, limit=MAX_SOURCE_BYTES).decode(
                "utf-8", errors="replace"
            )
        except RootError:
            return []
    # the parser only when there is a command line to parse (an image tree has none)
    from executor.cmdline import parse_cmdline

    parsed = parse_cmdline(text, source=CMDLINE_PATH)
    groups: list[SourceGroup] = []
    for ref in parsed.sources:
        if is_url(ref.uri):
            group = read_url(ref.uri, timeout=timeout)
        elif ref.uri.startswith("/"):
            group = read_root_source(root, ref.uri)
        else:
            group = SourceGroup(ref.uri)
            group.problems.append(
                Problem(
                    "error",
                    CMDLINE_PATH,
                    1,
                    ref.column,
                    ref.key,
                    f"{ref.key}={ref.uri}: expected an http(s) URL or an absolute path",
                )
            )
        groups.append(group)
    dots = SourceGroup(CMDLINE_PATH, problems=list(parsed.problems))
    if parsed.document is not None:
        dots.documents.append(Document(CMDLINE_PATH, text, CMDLINE_PATH, parsed.document))
    if dots.documents or dots.problems:
        groups.append(dots)
    return groups
