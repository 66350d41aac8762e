"""stage-executor: a yip-compatible cloud-config stage executor for Kairos nodes."""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType


def _install_pyc_finder() -> None:
    """Load this package's modules straight from their up-to-date .pyc files.

    Why: a boot stage imports about forty of our modules, and the standard
    path finder spends ~300k instructions and ~11 system calls on each
    (directory stat, two source stats, a buffered open with its fstat, ioctl
    and seeks) before the code is even unmarshalled. This finder knows where
    the bytecode is, checks it against the source as importlib does (magic
    number, timestamp-based, source mtime and size) and reads it with one
    open, fstat and read: about half the instructions and syscalls of a
    boot's imports. Whatever it does not expect (no .pyc, a stale or
    hash-based one, -O, PYTHONPYCACHEPREFIX, an error) it leaves to the
    standard machinery, which then compiles and caches as always.
    """
    import sys

    tag = sys.implementation.cache_tag
    if tag is None or sys.flags.optimize or sys.pycache_prefix is not None:
        return
    # all five are built in or frozen, loaded at interpreter start
    import _frozen_importlib as bootstrap
    import _frozen_importlib_external as external
    import _imp
    import marshal
    import posix

    magic: bytes = external.MAGIC_NUMBER
    fix_filename = _imp._fix_co_filename  # type: ignore[attr-defined]
    stat, fstat, open_, read, close = posix.stat, posix.fstat, posix.open, posix.read, posix.close
    read_flags = posix.O_RDONLY | posix.O_CLOEXEC
    pyc_suffix = f".{tag}.pyc"

    def checked_code(source: str, pyc: str) -> CodeType | None:
        """The code in `pyc` if it was compiled from `source` as it is now."""
        try:
            st = stat(source)
            fd = open_(pyc, read_flags)
        except OSError:
            return None
        try:
            size = fstat(fd).st_size
            data = read(fd, size)
        except OSError:
            return None
        finally:
            close(fd)
        if (
            len(data) != size  # a short read: not worth a loop, importlib will do
            or size < 16
            or data[:4] != magic
            or data[4:8] != b"\0\0\0\0"  # flags 0: checked by timestamp, not hash
            or int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF
            or int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF
        ):
            return None
        try:
            code = marshal.loads(memoryview(data)[16:])
        except (EOFError, ValueError, TypeError):
            return None
        fix_filename(code, source)  # as importlib does, for a tree moved after compiling
        return code  # type: ignore[no-any-return]

    class PycLoader:
        """Runs the code object the finder has read and checked."""

        @staticmethod
        def create_module(spec: ModuleSpec) -> None:
            return None  # the default module object

        @staticmethod
        def exec_module(module: ModuleType) -> None:
            spec = module.__spec__
            assert spec is not None
            code, spec.loader_state = spec.loader_state, None
            exec(code, module.__dict__)

    loader = PycLoader()

    class PycFinder:
        @staticmethod
        def find_spec(
            fullname: str, path: Sequence[str] | None, target: ModuleType | None = None, /
        ) -> ModuleSpec | None:
            if not fullname.startswith("executor.") or path is None or len(path) != 1:
                return None
            folder = path[0]
            name = fullname.rpartition(".")[2]
            source, pyc = f"{folder}/{name}.py", f"{folder}/__pycache__/{name}{pyc_suffix}"
            code = checked_code(source, pyc)
            package = ""
            if code is None:  # a subpackage, or a module for importlib to handle
                package = f"{folder}/{name}"
                source, pyc = (
                    f"{package}/__init__.py",
                    f"{package}/__pycache__/__init__{pyc_suffix}",
                )
                code = checked_code(source, pyc)
                if code is None:
                    return None
            spec: ModuleSpec = bootstrap.ModuleSpec(
                fullname,
                loader,  # type: ignore[arg-type]  # a Loader in all but its base class
                origin=source,
                loader_state=code,
                is_package=bool(package),
            )
            if package:
                spec.submodule_search_locations = [package]
            spec.cached = pyc
            spec.has_location = True
            return spec

    sys.meta_path.insert(0, PycFinder)


_install_pyc_finder()
