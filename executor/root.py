"""The Root: the one object that touches the filesystem.

Every path a config, a condition or a unit names is absolute *inside* the
root. The Root resolves it one component at a time, following symlinks as if
the root directory were `/` (an absolute link target re-enters the root, `..`
stops at it), so nothing outside the root is ever read or written.

`Root` acts on disk. `DryRunRoot` reads the same disk but records every change
in an overlay instead of making it, so later steps (and their conditions) see
what earlier steps would have done, while the disk stays untouched.

Resolution looks at the tree with lstat; a symlink swapped in between that
look and the operation must not lead out of the root. So every open, create,
rename, link, unlink, chown and chmod is done relative to a directory file
descriptor that was reached from the root one component at a time with
O_NOFOLLOW|O_DIRECTORY: a component that has become a symlink since makes the
operation fail (ENOTDIR) instead of following it, and the final component is
never followed either (O_NOFOLLOW, O_EXCL, rename and unlink act on the name).

Crash safety: a file is written to a temporary file beside it (O_EXCL, owner
read/write at most, flock'ed while it is written), fsync'ed, owned, moded and
renamed over the target, then the directory is fsync'ed. A process killed
half-way leaves the old file in place and a temporary file, which the next
write into that directory removes (see `_sweep_temps`).
"""

from __future__ import annotations

import errno as E
import fcntl
import os
import re
import stat
from collections.abc import Callable, Iterator

from executor.errors import RootError
from executor.lazyre import lazy_compile
from executor.record import dataclass, replace

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")

_SKIPPED = ("", ".")  # path components that name the directory they are in
MAX_UNSYNCED_DIRS = 64  # directories kept open for the run's final fsync
VOLATILE = "run"  # a tmpfs from every boot on: what is written below it never outlives one
MAX_SYMLINKS = 40  # Linux's limit for one path resolution (ELOOP beyond)
TEMP_MARK = ".se-tmp"  # suffix of our temporary files, so a later run can clean them
# `.NAME.<8 hex>.se-tmp`, as `_temp_name` makes them
TEMP_NAME = lazy_compile(r"\..+\.[0-9a-f]{8}" + re.escape(TEMP_MARK), re.DOTALL)
COPY_CHUNK = 1 << 20

# A directory on the way down: never a symlink, and O_PATH needs no read right.
_WALK_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Opening something to read or fchmod it: never a symlink, never block on a
# FIFO, never become its controlling terminal.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


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
        self._swept: set[str] = set()  # directories already cleaned of stale temp files
        # Directories with entries created or renamed since the last sync(),
        # by (st_dev, st_ino), each with a read-only fd to fsync it through.
        self._unsynced: dict[tuple[int, int], int] = {}
        # lstat answers kept while the engine runs a step (remember_lookups)
        self._seen: dict[str, Node | None] | None = None
        self._seen_epoch: object = None
        self._epoch: Callable[[], object] = _no_epoch

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def sync(self) -> None:
        """Make the directory entries of every write so far durable.

        Each file's data is fsync'ed before its rename, so a crash leaves the
        old content or the new, never a part, whether or not this has run.
        The directories themselves are fsync'ed here, once each per run,
        instead of after every entry: the seed stage alone touches the same
        few directories a dozen times, and each fsync is a disk round trip.
        """
        pending, self._unsynced = self._unsynced, {}
        for fd in pending.values():
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)

    def _dir_changed(self, dir_fd: int) -> None:
        """Remember that directory `dir_fd` (an O_PATH fd) needs an fsync."""
        try:
            st = os.fstat(dir_fd)
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key in self._unsynced:
            return
        try:
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            return
        self._unsynced[key] = fd
        if len(self._unsynced) >= MAX_UNSYNCED_DIRS:  # bound the open descriptors
            self.sync()

    def remember_lookups(self, epoch: Callable[[], object] | None) -> None:
        """Keep lstat answers until `epoch()` changes; None stops and forgets.

        Planning one step looks at the same few directories again and again
        (the seed's four steps lstat /etc 48 times): the engine turns this on
        for the length of a step, with the count of processes started as the
        epoch, so what a command may have changed is looked at afresh. The
        changes made through this Root forget the paths they touch.
        """
        self._seen = None if epoch is None else {}
        self._epoch = epoch or _no_epoch
        self._seen_epoch = self._epoch()

    def _forget(self, rel: str) -> None:
        """Drop the remembered answers for `rel` and everything below it."""
        seen = self._seen
        if seen:
            seen.pop(rel, None)
            below = rel + "/" if rel else ""
            for key in [k for k in seen if k.startswith(below)]:
                del seen[key]

    @property
    def is_host_root(self) -> bool:
        return self.path == "/"

    # -- resolution -------------------------------------------------------

    def resolve(self, path: str, *, follow: bool = True) -> Resolved:
        """Resolve `path` inside the root; never raises for a missing path.

        A path the kernel could not take (a NUL byte, a component longer than
        NAME_MAX) or a directory we may not search resolves with that errno,
        as `test -e` would see it: nothing there.
        """
        if "\0" in path:  # kept in `rel`, so that no later call can act on a shorter path
            return Resolved(path.strip("/"), None, E.EINVAL)
        # Components still to walk, last first; "" and "." change nothing.
        todo = [c for c in reversed(path.split("/")) if c not in _SKIPPED]
        done: list[str] = []
        errno = 0
        links = 0
        node: Node | None = None
        node_rel: str | None = None  # the path `node` describes
        while todo:
            comp = todo.pop()
            if comp == "..":
                if done:
                    done.pop()
                continue
            done.append(comp)
            if errno:
                continue
            last = not todo
            node_rel = "/".join(done)
            try:
                node = self._lstat(node_rel)
            except RootError as exc:  # EACCES, ENAMETOOLONG: the kernel's answer
                errno = exc.errno or E.EIO
                continue
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
                todo.extend(c for c in reversed(node.target.split("/")) if c not in _SKIPPED)
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
        node is None for a dangling link. Directories are entered, not yielded,
        and each real directory at most once, so a link back up the tree (a
        loop) neither repeats documents nor walks forever. Iterative: a tree
        as deep as PATH_MAX allows cannot exhaust the interpreter's stack.
        """
        start = self.resolve(path)
        seen = {start.rel}
        stack = [iter(self._sorted_children(path))]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            child, r = entry
            node = r.node if r.errno == 0 else None
            if node is None or node.kind != "dir":
                yield child, node
            elif r.rel not in seen:
                seen.add(r.rel)
                stack.append(iter(self._sorted_children(child)))

    def _sorted_children(self, path: str) -> list[tuple[str, Resolved]]:
        """Children of a directory, each resolved, in the order of their full paths:
        a directory sorts as `name/`, since every path below it starts so."""
        out = []
        for name in self.listdir(path):
            child = path.rstrip("/") + "/" + name
            r = self.resolve(child)
            is_dir = r.errno == 0 and r.node is not None and r.node.kind == "dir"
            out.append((name + "/" if is_dir else name, child, r))
        out.sort(key=lambda item: item[0])
        return [(child, r) for _, child, r in out]

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
        # rel never starts with "/" (resolve makes it): plain concatenation is
        # os.path.join's answer, at a fraction of its cost on this hot path
        if not rel:
            return self.path
        return f"{self.path}{rel}" if self.path == "/" else f"{self.path}/{rel}"

    # -- primitives (the dry-run root overrides these) --------------------

    def _lstat(self, rel: str) -> Node | None:
        seen = self._seen
        if seen is None:
            return self._lstat_disk(rel)
        epoch = self._epoch()
        if epoch != self._seen_epoch:
            seen.clear()
            self._seen_epoch = epoch
        elif rel in seen:
            return seen[rel]
        node = seen[rel] = self._lstat_disk(rel)
        return node

    def _lstat_disk(self, rel: str) -> Node | None:
        host = self._host(rel)
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
        return _node_of(st, host)

    def _read_rel(self, rel: str, limit: int) -> bytes:
        with self._parent_fd(rel) as (dfd, name):
            fd = _call(rel, os.open, name or ".", _READ_FLAGS, dir_fd=dfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
                raise RootError(f"/{rel}: not a regular file", errno=E.EINVAL)
            chunks = []
            total = 0
            while chunk := _call(rel, os.read, fd, COPY_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise RootError(f"/{rel}: larger than {limit} bytes", errno=E.EFBIG)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _listdir_rel(self, rel: str) -> list[str]:
        with self._dir_fd(rel) as dfd:
            fd = _call(rel, os.open, ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
            try:
                return _call(rel, os.listdir, fd)
            finally:
                os.close(fd)

    def _do_write(self, rel: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        self._forget(rel)
        with self._parent_fd(rel) as (dfd, name):
            self._sweep_temps(dfd, rel)
            self._replace_file(dfd, name, rel, [data], mode, uid, gid)

    def _do_mkdir(self, rel: str, mode: int, uid: int, gid: int) -> None:
        self._forget(rel)
        with self._parent_fd(rel) as (dfd, name):
            _call(rel, os.mkdir, name, 0o700, dir_fd=dfd)  # private until owned and moded
            self._swept.add(rel)  # made just now: no killed run left anything in it
            fd = _call(rel, os.open, name, _READ_FLAGS | os.O_DIRECTORY, dir_fd=dfd)
            try:
                _call(rel, os.fchown, fd, uid, gid)
                _call(rel, os.fchmod, fd, mode)  # mkdir's mode is masked by the umask
            finally:
                os.close(fd)
            if durable(rel.rpartition("/")[0]):
                self._dir_changed(dfd)

    def _do_chattr(self, rel: str, mode: int | None, uid: int | None, gid: int | None) -> None:
        self._forget(rel)
        with self._parent_fd(rel) as (dfd, name):
            st = _call(rel, os.stat, name or ".", dir_fd=dfd, follow_symlinks=False)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise RootError(f"/{rel}: cannot change the owner or mode of a special file")
            fd = _call(rel, os.open, name or ".", _READ_FLAGS, dir_fd=dfd)
            try:
                st = os.fstat(fd)  # what we opened, not what we looked at
                new_uid = st.st_uid if uid is None else uid
                new_gid = st.st_gid if gid is None else gid
                new_mode = stat.S_IMODE(st.st_mode) if mode is None else mode
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and name:
                    # A hard link shares its inode with a path we cannot see
                    # (maybe outside the root): give this path its own copy.
                    self._sweep_temps(dfd, rel)
                    self._replace_file(dfd, name, rel, _chunks(fd, rel), new_mode, new_uid, new_gid)
                    return
                if (new_uid, new_gid) != (st.st_uid, st.st_gid):
                    _call(rel, os.fchown, fd, new_uid, new_gid)
                # after the chown, which clears setuid/setgid bits
                _call(rel, os.fchmod, fd, new_mode)
            finally:
                os.close(fd)

    def _do_symlink(self, rel: str, target: str) -> None:
        self._forget(rel)
        with self._parent_fd(rel) as (dfd, name):
            self._sweep_temps(dfd, rel)
            tmp = _temp_name(name)
            try:
                _call(rel, os.symlink, target, tmp, dir_fd=dfd)
                # replaces a link or file there atomically
                _call(rel, os.rename, tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                _unlink_quietly(tmp, dfd)
                raise
            if durable(rel):
                self._dir_changed(dfd)

    def _do_unlink(self, rel: str) -> None:
        self._remove_entry(rel, os.unlink)

    def _do_rmdir(self, rel: str) -> None:
        self._remove_entry(rel, os.rmdir)

    def _remove_entry(self, rel: str, remove: Callable[..., None]) -> None:
        """unlink or rmdir `rel` through its parent's fd; already gone is fine."""
        self._forget(rel)
        try:
            with self._parent_fd(rel) as (dfd, name):
                remove(name, dir_fd=dfd)
        except FileNotFoundError:
            return
        except RootError as exc:
            if exc.errno != E.ENOENT:
                raise
        except OSError as exc:
            raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None

    # -- confined file descriptors ------------------------------------------

    def open_lock_file(self, path: str) -> int:
        """An fd open for reading and writing on the file at `path`, created
        0600 when missing; for flock. The caller closes it."""
        r = self._writable(path, follow=True)
        if r.node is not None and r.node.kind != "file":
            raise RootError(f"{path}: is a {_kind_name(r.node)}, not a lock file")
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        self._forget(r.rel)
        with self._parent_fd(r.rel) as (dfd, name):
            fd = _call(r.rel, os.open, name, flags, 0o600, dir_fd=dfd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RootError(f"{path}: not a regular file")
        return fd

    def _dir_fd(self, rel: str) -> _DirFd:
        """`with`: an O_PATH fd of the directory `rel`, walked down from the root."""
        return _DirFd(self.path, rel)

    def _parent_fd(self, rel: str) -> _ParentFd:
        """`with`: the parent directory's fd and the last component ("" for the root)."""
        return _ParentFd(self.path, rel)

    def _replace_file(
        self,
        dfd: int,
        name: str,
        rel: str,
        chunks: Iterator[bytes] | list[bytes],
        mode: int,
        uid: int,
        gid: int,
    ) -> None:
        """Write `chunks` to a temporary file beside `name`, then rename it over.

        The temporary file starts with at most the owner's read/write bits of
        the final mode (never readable by group or others) and stays flock'ed
        until it is renamed, so a concurrent sweep can tell it is live. Owner
        before mode: chown clears setuid/setgid bits, fchmod sets them again.
        """
        tmp = _temp_name(name)
        fd = _call(rel, os.open, tmp, _CREATE_FLAGS, mode & 0o600, dir_fd=dfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            for data in chunks:
                view = memoryview(data)
                while view:
                    view = view[_call(rel, os.write, fd, view) :]
            _call(rel, os.fchown, fd, uid, gid)
            _call(rel, os.fchmod, fd, mode)
            if durable(rel):
                _call(rel, os.fsync, fd)
            _call(rel, os.rename, tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            _unlink_quietly(tmp, dfd)
            raise
        finally:
            os.close(fd)
        if durable(rel):
            self._dir_changed(dfd)

    def _sweep_temps(self, dfd: int, rel: str) -> None:
        """Remove temporary files a killed run left in this directory.

        Done at the first write into a directory in the life of this Root: a
        run writes again where the previous one wrote (same configs, same
        targets), and also cleans up after targets it no longer writes. A
        temporary file still flock'ed belongs to a live writer and is kept;
        the run lock (executor/lock.py) keeps other executors out anyway.
        """
        parent = rel.rpartition("/")[0]
        if parent in self._swept:
            return
        self._swept.add(parent)
        try:
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
        except OSError:
            return
        try:
            names = [n for n in os.listdir(fd) if TEMP_NAME.fullmatch(n)]
        except OSError:
            names = []
        finally:
            os.close(fd)
        for name in names:
            _remove_stale_temp(dfd, name)
        if names:
            self._forget(parent)


def _remove_stale_temp(dfd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):  # a symlink temp lives between symlink() and rename()
            os.unlink(name, dir_fd=dfd)
            return
        if not stat.S_ISREG(st.st_mode):
            return  # not something we made
        fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(name, dir_fd=dfd)
    except OSError:
        pass  # a live writer holds it
    finally:
        os.close(fd)


def _temp_name(name: str) -> str:
    return f".{name[:200]}.{os.urandom(4).hex()}{TEMP_MARK}"


def _chunks(fd: int, rel: str) -> Iterator[bytes]:
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := _call(rel, os.read, fd, COPY_CHUNK):
        yield chunk


def _call(rel: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """`fn(*args)`, an OSError becoming a RootError that names the in-root path."""
    try:
        return fn(*args, **kwargs)
    except OSError as exc:
        raise RootError(f"/{rel}: {exc.strerror}", errno=exc.errno or 0) from None
    except OverflowError as exc:  # an owner or mode no kernel call can take
        raise RootError(f"/{rel}: invalid owner or mode ({exc})", errno=E.EINVAL) from None


class DryRunRoot(Root):
    """Records changes in memory and writes nothing; reads the disk, or `over`.

    With `over`, it is an overlay on another Root (itself maybe a dry-run):
    what that Root shows, plus the changes recorded here. Planning uses one
    to see the links a step has planned so far without writing them.
    """

    dry_run = True

    def __init__(self, path: str = "/", *, over: Root | None = None) -> None:
        super().__init__(path if over is None else over.path)
        self._below = over
        self._nodes: dict[str, Node | None] = {}  # rel -> planned node (None: removed)
        self._content: dict[str, bytes] = {}

    def planned_paths(self) -> list[str]:
        """In-root paths the dry-run changed, in lexical order."""
        return sorted("/" + rel for rel in self._nodes)

    def _lstat(self, rel: str) -> Node | None:
        if rel in self._nodes:
            return self._nodes[rel]
        if self._below is not None:
            return self._below._lstat(rel)
        return super()._lstat(rel)

    def _read_rel(self, rel: str, limit: int) -> bytes:
        if rel in self._content:
            return self._content[rel]
        if self._below is not None:
            return self._below._read_rel(rel, limit)
        return super()._read_rel(rel, limit)

    def _listdir_rel(self, rel: str) -> list[str]:
        names = set()
        if rel not in self._nodes:  # a directory planned anew has nothing on disk
            try:
                below = self._below
                names.update(
                    super()._listdir_rel(rel) if below is None else below._listdir_rel(rel)
                )
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

    def open_lock_file(self, path: str) -> int:
        raise RootError(f"{path}: a dry-run takes no lock (it writes nothing)")

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


def _no_epoch() -> object:
    return None


def _node_of(st: os.stat_result, host: str) -> Node:
    fmt = stat.S_IFMT(st.st_mode)
    mode = stat.S_IMODE(st.st_mode)
    if fmt == stat.S_IFLNK:
        return Node("link", mode, st.st_uid, st.st_gid, st.st_size, os.readlink(host))
    kind = "file" if fmt == stat.S_IFREG else "dir" if fmt == stat.S_IFDIR else "other"
    return Node(kind, mode, st.st_uid, st.st_gid, st.st_size)


def _kind_name(node: Node) -> str:
    return {"file": "file", "dir": "directory", "link": "symlink"}.get(node.kind, "special file")


# The two context managers below are classes rather than @contextmanager
# generators: contextlib costs every run ~3M instructions to import.


class _DirFd:
    """An O_PATH fd of the directory `rel` of the root at `path`, closed on exit.

    Each component is opened relative to the previous one with
    O_NOFOLLOW|O_DIRECTORY, so the walk never leaves the root even if the
    tree changed since `resolve` looked at it.
    """

    __slots__ = ("fd", "path", "rel")

    def __init__(self, path: str, rel: str) -> None:
        self.path, self.rel, self.fd = path, rel, -1

    def __enter__(self) -> int:
        rel = self.rel
        fd = _call(rel, os.open, self.path, _WALK_FLAGS & ~os.O_NOFOLLOW)
        try:
            for comp in rel.split("/") if rel else ():
                try:
                    child = os.open(comp, _WALK_FLAGS, dir_fd=fd)
                except OSError as exc:
                    why = "changed while in use" if exc.errno in (E.ENOTDIR, E.ELOOP) else ""
                    raise RootError(
                        f"/{rel}: {exc.strerror}{' (' + why + ')' if why else ''}",
                        errno=exc.errno or 0,
                    ) from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return fd

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


class _ParentFd:
    """The fd of the parent directory of `rel` and its last component, as a pair."""

    __slots__ = ("dir", "name")

    def __init__(self, path: str, rel: str) -> None:
        parent, _, self.name = rel.rpartition("/")
        self.dir = _DirFd(path, parent if self.name else "")

    def __enter__(self) -> tuple[int, str]:
        return self.dir.__enter__(), self.name

    def __exit__(self, *_: object) -> None:
        self.dir.__exit__()


def durable(rel: str) -> bool:
    """Whether a write at `rel` (root-relative, resolved) must survive a power cut.

    Not below /run: systemd mounts a fresh tmpfs there at every boot (an image
    root's own /run is hidden under it), so an fsync there would wait on the
    disk for data nothing can ever read after a crash; the rename still makes
    each write whole or absent for the readers of this boot.
    """
    return rel != VOLATILE and not rel.startswith(VOLATILE + "/")


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
