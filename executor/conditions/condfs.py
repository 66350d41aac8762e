"""The root as conditions see it: lookups, reads and access checks, with the what-ifs.

`RootCondFS` answers as the kernel would answer a shell chrooted into the
root: paths resolve inside it (relative ones from `/`, the fallback shell's
working directory), a trailing slash requires a directory, and -r/-w/-x ask
the kernel (faccessat with the effective ids, as dash and bash do) about the
resolved path, so ACLs and read-only mounts count. `HostCondFS` does the same
for the running system's root with plain system calls. In a dry-run, paths the
run has planned are answered from the plan, and `--marker`/`--cmdline` add
`/run/cos/NAME` and replace `/proc/cmdline`.
"""

from __future__ import annotations

import errno as E
import os
import stat

from executor.conditions.shell import NotNative
from executor.errors import RootError
from executor.root import DryRunRoot, Node, Resolved, Root

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # structural typing is mypy's business; at run time a plain base

MARKER_DIR = "/run/cos"
_VIRTUAL_FILE = Node("file", 0o644, 0, 0, 0)
_VIRTUAL_DIR = Node("dir", 0o755, 0, 0, 0)
_ACCESS_MODE = {"r": os.R_OK, "w": os.W_OK, "x": os.X_OK}


class CondFS(Protocol):
    def lookup(self, path: str, *, follow: bool = True) -> Node | None:
        """What is at `path` (None when stat/lstat would fail)."""
        ...

    def read(self, path: str) -> bytes | None:
        """Content of the file at `path`; None when reading it fails (missing,
        a directory, no permission); NotNative for what a native read cannot
        stand in for (a FIFO or device, a huge file)."""
        ...

    def access(self, path: str, what: str) -> bool:
        """-r/-w/-x (`what` is "r", "w" or "x") for the effective user."""
        ...


def _needs_directory(path: str) -> bool:
    # "a/", "a/." and "a/.." make the kernel require a directory at "a".
    stripped = path.rstrip("/")
    return stripped != path or stripped.endswith(("/.", "/..")) or stripped in (".", "..")


class RootCondFS:
    """CondFS over a Root, with the dry-run what-ifs."""

    def __init__(self, root: Root, markers: tuple[str, ...] = (), cmdline: str | None = None):
        self.root = root
        self.cmdline = cmdline
        self._euid = os.geteuid()
        self.virtual: dict[str, Node] = {}
        for name in markers:
            r = self._resolve(f"{MARKER_DIR}/{name}", follow=True)
            self.virtual[r.rel] = _VIRTUAL_FILE
            parent = r.rel.rpartition("/")[0]
            while parent and self._resolve("/" + parent, follow=True).node is None:
                self.virtual[parent] = _VIRTUAL_DIR
                parent = parent.rpartition("/")[0]
        # where /proc/cmdline lands in the root; resolved only for a --cmdline what-if
        self.proc_cmdline = (
            self._resolve("/proc/cmdline", follow=True).rel if cmdline is not None else None
        )

    def _resolve(self, path: str, *, follow: bool) -> Resolved:
        try:
            return self.root.resolve(path, follow=follow)
        except RootError as exc:  # EACCES on a directory on the way: stat fails the same
            return Resolved(path.strip("/"), None, exc.errno or E.EACCES)

    def _node(self, path: str, *, follow: bool) -> tuple[Resolved, Node | None]:
        if path == "":
            return Resolved("", None, E.ENOENT), None  # stat("") fails
        if _needs_directory(path):
            follow = True
        r = self._resolve(path, follow=follow)
        if r.rel in self.virtual:
            return r, self.virtual[r.rel]
        if r.rel == self.proc_cmdline:
            return r, Node("file", 0o444, 0, 0, 0)
        node = r.node if r.errno == 0 else None
        if node is not None and _needs_directory(path) and node.kind != "dir":
            return r, None  # ENOTDIR
        if node is not None and not self._dots_searchable(path):
            return r, None  # EACCES
        return r, node

    def _dots_searchable(self, path: str) -> bool:
        """For "d/." and "d/..", the kernel looks inside d: it must be searchable.

        The Root drops those components lexically, so this checks what the
        kernel would: search permission on each directory a `.` or `..` is
        looked up in (root may search anything).
        """
        if self._euid == 0:
            return True
        parts = path.split("/")
        return all(
            self.access("/".join(parts[:i]) or "/", "x")
            for i, part in enumerate(parts)
            if part in (".", "..")
        )

    def lookup(self, path: str, *, follow: bool = True) -> Node | None:
        return self._node(path, follow=follow)[1]

    def read(self, path: str) -> bytes | None:
        r, node = self._node(path, follow=True)
        if node is None or node.kind == "dir":
            return None
        if r.rel == self.proc_cmdline:
            return (self.cmdline or "").encode() + b"\n"
        if r.rel in self.virtual:
            return b""
        if node.kind != "file":
            raise NotNative(f"reading {path}, which is not a regular file")
        try:
            return self.root.read_bytes("/" + r.rel)
        except RootError as exc:
            if exc.errno == E.EFBIG:
                raise NotNative(f"reading {path}, which is too large") from None
            return None

    def access(self, path: str, what: str) -> bool:
        r, node = self._node(path, follow=True)
        if node is None:
            return False
        planned = r.rel in self.virtual or r.rel == self.proc_cmdline
        if not planned:
            planned = isinstance(self.root, DryRunRoot) and "/" + r.rel in self.root.planned_paths()
        if planned:
            return access_by_mode(node, what)
        host = os.path.join(self.root.path, r.rel) if r.rel else self.root.path
        return os.access(host, _ACCESS_MODE[what], effective_ids=True, follow_symlinks=False)


class HostCondFS:
    """CondFS for the running system's own root, without what-ifs: the kernel resolves.

    With the root at `/` there is nothing to confine, so paths go straight to
    stat/open as they do in the shell (relative ones from `/`). This is the
    headline case, the initramfs stage chrooted into the new root, and it
    costs one system call per test instead of one per path component.
    """

    read_limit = 64 << 20

    def lookup(self, path: str, *, follow: bool = True) -> Node | None:
        if not path:
            return None
        path = _from_slash(path)
        try:
            st = os.stat(path, follow_symlinks=follow)
        except OSError:
            return None
        return node_of(st, path)

    def read(self, path: str) -> bytes | None:
        node = self.lookup(path)
        if node is None or node.kind == "dir":
            return None
        if node.kind != "file":  # never open a FIFO or a device
            raise NotNative(f"reading {path}, which is not a regular file")
        try:
            fd = os.open(_from_slash(path), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NotNative(f"reading {path}, which is not a regular file")
            chunks, total = [], 0
            while chunk := os.read(fd, 1 << 20):
                total += len(chunk)
                if total > self.read_limit:
                    raise NotNative(f"reading {path}, which is too large")
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)

    def access(self, path: str, what: str) -> bool:
        if not path:
            return False
        return os.access(_from_slash(path), _ACCESS_MODE[what], effective_ids=True)


def _from_slash(path: str) -> str:
    # the fallback shell runs in `/`; this process may be elsewhere
    return path if path.startswith("/") else "/" + path


def node_of(st: os.stat_result, path: str) -> Node:
    kind = (
        "file"
        if stat.S_ISREG(st.st_mode)
        else "dir"
        if stat.S_ISDIR(st.st_mode)
        else ("link" if stat.S_ISLNK(st.st_mode) else "other")
    )
    target = os.readlink(path) if kind == "link" else ""
    return Node(kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size, target)


def cond_fs_for(root: Root, markers: tuple[str, ...] = (), cmdline: str | None = None) -> CondFS:
    """The CondFS for a run: direct on the running system, through the Root otherwise."""
    if type(root) is Root and root.is_host_root and not markers and cmdline is None:
        return HostCondFS()
    return RootCondFS(root, markers, cmdline)


def access_by_mode(node: Node, what: str) -> bool:
    """-r/-w/-x from the mode bits alone, for nodes that exist only in a plan."""
    euid = os.geteuid()
    if euid == 0:
        return what != "x" or node.kind == "dir" or bool(node.mode & 0o111)
    bit = {"r": 4, "w": 2, "x": 1}[what]
    if node.uid == euid:
        return bool((node.mode >> 6) & bit)
    if node.gid == os.getegid() or node.gid in os.getgroups():
        return bool((node.mode >> 3) & bit)
    return bool(node.mode & bit)
