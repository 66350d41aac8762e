"""The root as conditions see it: lookups, reads and access checks, with the what-ifs.

`RootCondFS` answers as the kernel would answer a shell chrooted into the
root: paths resolve inside it (relative ones from `/`, the fallback shell's
working directory), a trailing slash requires a directory, and -r/-w/-x ask
the kernel (faccessat with the effective ids, as dash and bash do) about the
resolved path, so ACLs and read-only mounts count. In a dry-run, paths the
run has planned are answered from the plan, and `--marker`/`--cmdline` add
`/run/cos/NAME` and replace `/proc/cmdline`.
"""

from __future__ import annotations

import errno as E
import os
from typing import Protocol

from executor.conditions.shell import NotNative
from executor.errors import RootError
from executor.root import DryRunRoot, Node, Resolved, Root

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
        self.virtual: dict[str, Node] = {}
        for name in markers:
            r = self._resolve(f"{MARKER_DIR}/{name}", follow=True)
            self.virtual[r.rel] = _VIRTUAL_FILE
            parent = r.rel.rpartition("/")[0]
            while parent and self._resolve("/" + parent, follow=True).node is None:
                self.virtual[parent] = _VIRTUAL_DIR
                parent = parent.rpartition("/")[0]
        self.proc_cmdline = self._resolve("/proc/cmdline", follow=True).rel

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
        if self.cmdline is not None and r.rel == self.proc_cmdline:
            return r, Node("file", 0o444, 0, 0, 0)
        node = r.node if r.errno == 0 else None
        if node is not None and _needs_directory(path) and node.kind != "dir":
            return r, None  # ENOTDIR
        return r, node

    def lookup(self, path: str, *, follow: bool = True) -> Node | None:
        return self._node(path, follow=follow)[1]

    def read(self, path: str) -> bytes | None:
        r, node = self._node(path, follow=True)
        if node is None or node.kind == "dir":
            return None
        if self.cmdline is not None and r.rel == self.proc_cmdline:
            return self.cmdline.encode() + b"\n"
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
        planned = r.rel in self.virtual or (self.cmdline is not None and r.rel == self.proc_cmdline)
        if not planned:
            planned = isinstance(self.root, DryRunRoot) and "/" + r.rel in self.root.planned_paths()
        if planned:
            return access_by_mode(node, what)
        host = os.path.join(self.root.path, r.rel) if r.rel else self.root.path
        return os.access(host, _ACCESS_MODE[what], effective_ids=True, follow_symlinks=False)


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
