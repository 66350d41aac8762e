"""What a root says about its operating system: os-release and the architecture names.

One parser and one architecture table for the `only_os`/`only_arch` filters, the
template values, systemd-firstboot and the unit specifiers, so that they cannot
read the same root differently.
"""

from __future__ import annotations

from executor.lazyre import lazy_compile

TYPE_CHECKING = False  # mypy reads it as True; a run need not import typing
if TYPE_CHECKING:
    from executor.root import Root

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")

# uname -m spelling -> Go's GOARCH spelling (yip compares and templates GOARCH)
GO_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}

# In double quotes os-release(5) escapes only these, as a shell does.
_DOUBLE_QUOTED_ESCAPE = lazy_compile(r'\\([\\$"`])')


def go_arch(machine: str) -> str:
    """GOARCH name of a `uname -m` machine name (unknown names are kept)."""
    return GO_ARCH.get(machine, machine)


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=VALUE pairs of an os-release text, quotes removed as os-release(5) says."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = _DOUBLE_QUOTED_ESCAPE.sub(r"\1", value)
        out[key.strip()] = value
    return out


def root_os_release(root: Root) -> dict[str, str]:
    """The root's os-release: /etc/os-release, else /usr/lib/os-release, else empty."""
    for path in OS_RELEASE_PATHS:
        text = root.read_text_or_empty(path)
        if text:
            return parse_os_release(text)
    return {}
