"""The Root: the one object that touches the filesystem.

Every path a config, a condition or a unit names is absolute *inside* the
root. The Root resolves it one component at a time, following symlinks as if
the root directory were `/` (an absolute link target re-enters the root, `..`
stops at it), so nothing outside the root is ever read or written.

`Root` acts on disk. `DryRunRoot` reads the same disk but records every change
in an overlay instead of making it, so later steps (and their conditions) see
what earlier steps would have done, while the disk stays untouched.
"""

from __future__ import annotations

import errno as E
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace

from executor.errors import RootError

MAX_SYMLINKS = 40  # Linux's limit for one path resolution (ELOOP beyond)
TEMP_MARK = ".se-tmp"  # suffix of our temporary files, so a later run can clean them


@dataclass(frozen=True)
class Node:
    """What is at a path: its kind, permission bits, owner and link target."""

    kind: str  # "file", "dir", "link" or "other" (FIFO, socket, device)
    mode: int  # permission bits, 0o7777 at most
    uid: int
    gid: int
    size: int = 0
    target: str = ""  # link target, for kind == "link"


@dataclass(frozen=True)
class Resolved:
    """A path resolved inside the root.

    `rel` is the resolved path relative to the root ("" is the root itself).
    `errno` is 0 when every parent resolved to an existing directory; otherwise
    it is what the kernel would have said (ENOENT, ENOTDIR, ELOOP) and the rest
    of `rel` is lexical. `node` is what is at `rel`, None when nothing is.
    """

    rel: str
    node: Node | None
    errno: int = 0

    @property
    def path(self) -> str:
        return "/" + self.rel

    @property
    def exists(self) -> bool:
        return self.errno == 0 and self.node is not None


class Root:
    """A directory treated as `/`; all effects happen on disk."""

    dry_run = False

    def __init__(self, path: str = "/") -> None:
        self.path = os.path.realpath(os.fspath(path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @property
    def is_host_root(self) -> bool:
        return self.path == "/"

    # -- resolution -------------------------------------------------------

    def resolve(self, path: str, *, follow: bool = True) -> Resolved:
        """Resolve `path` inside the root; never raises for a missing path."""
        todo = list(reversed(path.split("/")))
        done: list[str] = []
        errno = 0
        links = 0
        node: Node | None = None
        node_rel: str | None = None  # the path `node` describes
        while todo:
            comp = todo.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if done:
                    done.pop()
                continue
            done.append(comp)
            if errno:
                continue
            last = not any(c not in ("", ".") for c in todo)
            node_rel = "/".join(done)
            node = self._lstat(node_rel)
            if node is None:
                if not last:
                    errno = E.ENOENT
                continue
            if node.kind == "link" and (follow or not last):
                links += 1
                if links > MAX_SYMLINKS:
                    return Resolved("/".join(done), None, E.ELOOP)
                done.pop()
                if node.target.startswith("/"):
                    done.clear()
                todo.extend(reversed(node.target.split("/")))
                continue
            if not last and node.kind != "dir":
                errno = E.ENOTDIR
        rel = "/".join(done)
        if errno:
            return Resolved(rel, None, errno)
        return Resolved(rel, node if node_rel == rel else self._lstat(rel))

    def lookup(self, path: str, *, follow: bool = True) -> Node | None:
        """What is at `path` (None when nothing is, or a parent is missing)."""
        r = self.resolve(path, follow=follow)
        return r.node if r.errno == 0 else None

    def host_path(self, path: str) -> str:
        """The host path of `path` resolved inside the root (for chroot, logs)."""
        return self._host(self.resolve(path).rel)

    # -- reads ------------------------------------------------------------

    def read_bytes(self, path: str, *, limit: int = 64 << 20) -> bytes:
        """Content of the regular file at `path` (symlinks followed inside)."""
        r = self._existing(path)
        if r.node is None or r.node.kind != "file":
            raise RootError(f"{path}: not a regular file", errno=E.EISDIR)
        if r.node.size > limit:
            raise RootError(f"{path}: larger than {limit} bytes", errno=E.EFBIG)
        return self._read_rel(r.rel, limit)

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="surrogateescape")

    def read_text_or_empty(self, path: str) -> str:
        """Text of a file that may be missing (os-release, passwd, ...)."""
        try:
            return self.read_text(path)
        except RootError:
            return ""

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names of the directory at `path` ([] when it is missing)."""
        r = self.resolve(path)
        if not r.exists or r.node is None or r.node.kind != "dir":
            return []
        return sorted(self._listdir_rel(r.rel))

    def walk_files(self, path: str) -> Iterator[tuple[str, Node | None]]:
        """Every entry below a directory, depth first in lexical order of full path.

        Yields (in-root path, node) with symlinks resolved inside the root;
        node is None for a dangling link. Directories are entered, not yielded.
        """
        for name in self.listdir(path):
            child = path.rstrip("/") + "/" + name
            r = self.resolve(child)
            node = r.node if r.errno == 0 else None
            if node is not None and node.kind == "dir":
                yield from self.walk_files(child)
            else:
                yield child, node

    # -- writes -----------------------------------------------------------

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int, gid: int) -> None:
        """Atomically replace the file at `path` (a symlink there is followed)."""
        r = self._writable(path, follow=True)
        if r.node is not None and r.node.kind not in ("file",):
            raise RootError(f"{path}: cannot write a file over a {_kind_name(r.node)}")
        self._do_write(r.rel, data, mode & 0o7777, uid, gid)

    def make_dir(self, path: str, *, mode: int, uid: int, gid: int) -> None:
        """Create one directory whose parent exists."""
        r = self._writable(path, follow=True)
        if r.node is not None:
            raise RootError(f"{path}: already exists as a {_kind_name(r.node)}", errno=E.EEXIST)
        self._do_mkdir(r.rel, mode & 0o7777, uid, gid)

    def set_attrs(
        self, path: str, *, mode: int | None = None, uid: int | None = None, gid: int | None = None
    ) -> None:
        """Owner first, then mode: chown clears setuid/setgid bits."""
        r = self._existing(path)
        self._do_chattr(r.rel, mode, uid, gid)

    def symlink(self, path: str, target: str) -> None:
        """Make `path` a symlink to `target`, replacing a link or file there."""
        r = self._writable(path, follow=False)
        if r.node is not None and r.node.kind == "dir":
            raise RootError(f"{path}: is a directory", errno=E.EISDIR)
        self._do_symlink(r.rel, target)

    def remove(self, path: str) -> None:
        """Remove the file or symlink at `path` (the link itself, never its target)."""
        r = self.resolve(path, follow=False)
        if r.errno or r.node is None:
            return
        if r.node.kind == "dir":
            raise RootError(f"{path}: is a directory", errno=E.EISDIR)
        self._do_unlink(r.rel)

    def remove_dir(self, path: str) -> None:
        """Remove the empty directory at `path` (as rmdir: a non-empty one is an error)."""
        r = self.resolve(path, follow=False)
        if r.errno or r.node is None:
            return
        if r.node.kind != "dir":
            raise RootError(f"{path}: not a directory", errno=E.ENOTDIR)
        self._do_rmdir(r.rel)

    # -- helpers shared by the writers -----------------------------------

    def _existing(self, path: str) -> Resolved:
        r = self.resolve(path)
        if r.errno:
            raise RootError(f"{path}: {os.strerror(r.errno)}", errno=r.errno)
        if r.node is None:
            raise RootError(f"{path}: {os.strerror(E.ENOENT)}", errno=E.ENOENT)
        return r

    def _writable(self, path: str, *, follow: bool) -> Resolved:
        if not path.startswith("/"):
            raise RootError(f"{path}: not an absolute path", errno=E.EINVAL)
        r = self.resolve(path, follow=follow)
        if r.errno:
            raise RootError(f"{path}: {os.strerror(r.errno)}", errno=r.errno)
        if not r.rel:
            raise RootError(f"{path}: is the root itself", errno=E.EISDIR)
        return r

    def _host(self, rel: str) -> str:
        return os.path.join(self.path, rel) if rel else self.path

    # -- primitives (the dry-run root overrides these) --------------------

    def _lstat(self, rel: str) -> Node | None:
        try:
            st = os.lstat(self._host(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
        return _node_of(st, self._host(rel))

    def _read_rel(self, rel: str, limit: int) -> bytes:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self._host(rel), flags)
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
                raise RootError(f"/{rel}: not a regular file", errno=E.EINVAL)
            chunks = []
            total = 0
            while chunk := os.read(fd, 1 << 20):
                total += len(chunk)
                if total > limit:
                    raise RootError(f"/{rel}: larger than {limit} bytes", errno=E.EFBIG)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _listdir_rel(self, rel: str) -> list[str]:
        try:
            return os.listdir(self._host(rel))
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None

    def _do_write(self, rel: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        host = self._host(rel)
        directory, base = os.path.split(host)
        tmp = os.path.join(directory, f".{base[:200]}.{os.urandom(4).hex()}{TEMP_MARK}")
        # 0600 until the final owner and mode are set: secrets are never
        # readable by others, not even for an instant.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(tmp, flags, 0o600)
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, host)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
        except BaseException:
            _unlink_quietly(tmp)
            raise
        _fsync_dir(directory)

    def _do_mkdir(self, rel: str, mode: int, uid: int, gid: int) -> None:
        host = self._host(rel)
        try:
            os.mkdir(host, 0o700)
            os.chown(host, uid, gid, follow_symlinks=False)
            os.chmod(host, mode)  # mkdir's mode is masked by the umask; chmod is not
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
        _fsync_dir(os.path.dirname(host))

    def _do_chattr(self, rel: str, mode: int | None, uid: int | None, gid: int | None) -> None:
        host = self._host(rel)
        try:
            if uid is not None or gid is not None:
                os.chown(host, -1 if uid is None else uid, -1 if gid is None else gid,
                         follow_symlinks=False)
            if mode is not None:
                os.chmod(host, mode, follow_symlinks=True)
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None

    def _do_symlink(self, rel: str, target: str) -> None:
        host = self._host(rel)
        directory, base = os.path.split(host)
        tmp = os.path.join(directory, f".{base[:200]}.{os.urandom(4).hex()}{TEMP_MARK}")
        try:
            os.symlink(target, tmp)
            os.rename(tmp, host)  # replaces a link or file there atomically
        except OSError as exc:
            _unlink_quietly(tmp)
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
        _fsync_dir(directory)

    def _do_unlink(self, rel: str) -> None:
        try:
            os.unlink(self._host(rel))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None

    def _do_rmdir(self, rel: str) -> None:
        try:
            os.rmdir(self._host(rel))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None


class DryRunRoot(Root):
    """Reads the disk, records changes in memory, writes nothing."""

    dry_run = True

    def __init__(self, path: str = "/") -> None:
        super().__init__(path)
        self._nodes: dict[str, Node | None] = {}  # rel -> planned node (None: removed)
        self._content: dict[str, bytes] = {}

    def planned_paths(self) -> list[str]:
        """In-root paths the dry-run changed, in lexical order."""
        return sorted("/" + rel for rel in self._nodes)

    def _lstat(self, rel: str) -> Node | None:
        if rel in self._nodes:
            return self._nodes[rel]
        return super()._lstat(rel)

    def _read_rel(self, rel: str, limit: int) -> bytes:
        if rel in self._content:
            return self._content[rel]
        return super()._read_rel(rel, limit)

    def _listdir_rel(self, rel: str) -> list[str]:
        names = set()
        if rel not in self._nodes:  # a directory planned anew has nothing on disk
            try:
                names.update(super()._listdir_rel(rel))
            except RootError:
                pass
        prefix = rel + "/" if rel else ""
        for path, node in self._nodes.items():
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                if node is None:
                    names.discard(path[len(prefix) :])
                else:
                    names.add(path[len(prefix) :])
        return list(names)

    def _do_write(self, rel: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        self._nodes[rel] = Node("file", mode, uid, gid, len(data))
        self._content[rel] = data

    def _do_mkdir(self, rel: str, mode: int, uid: int, gid: int) -> None:
        self._nodes[rel] = Node("dir", mode, uid, gid)

    def _do_chattr(self, rel: str, mode: int | None, uid: int | None, gid: int | None) -> None:
        node = self._lstat(rel)
        if node is None:
            return
        self._nodes[rel] = replace(
            node,
            mode=node.mode if mode is None else mode,
            uid=node.uid if uid is None else uid,
            gid=node.gid if gid is None else gid,
        )

    def _do_symlink(self, rel: str, target: str) -> None:
        self._nodes[rel] = Node("link", 0o777, os.getuid(), os.getgid(), len(target), target)
        self._content.pop(rel, None)

    def _do_unlink(self, rel: str) -> None:
        self._nodes[rel] = None
        self._content.pop(rel, None)

    def _do_rmdir(self, rel: str) -> None:
        if self._listdir_rel(rel):
            raise RootError(f"/{rel}: {os.strerror(E.ENOTEMPTY)}", errno=E.ENOTEMPTY)
        self._nodes[rel] = None


def _node_of(st: os.stat_result, host: str) -> Node:
    fmt = stat.S_IFMT(st.st_mode)
    mode = stat.S_IMODE(st.st_mode)
    if fmt == stat.S_IFLNK:
        return Node("link", mode, st.st_uid, st.st_gid, st.st_size, os.readlink(host))
    kind = "file" if fmt == stat.S_IFREG else "dir" if fmt == stat.S_IFDIR else "other"
    return Node(kind, mode, st.st_uid, st.st_gid, st.st_size)


def _kind_name(node: Node) -> str:
    return {"file": "file", "dir": "directory", "link": "symlink"}.get(node.kind, "special file")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(path: str) -> None:
    """Make a rename or create in `path` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
