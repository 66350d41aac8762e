"""%-specifiers in [Install] values (systemd's install-printf.c), resolved for a root.

Unit-name specifiers (%n %N %p %i %j) come from the unit being installed.
%m and the os-release ones (%o %w %W %B %A %M) are read from the ROOT, as
`systemctl --root` does. %a and the caller's %u %U %g %G need no root. %H %l
%b %v describe the running host, so they resolve only when the root is `/`:
for an image root they would describe the build machine, not the node.
"""

from __future__ import annotations

import os

from executor.lazyre import lazy_compile
from executor.root import Root
from executor.units import names
from executor.units.install import SpecifierError

# uname -m -> systemd's architecture names (%a)
ARCHITECTURES = {
    "x86_64": "x86-64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "aarch64_be": "arm64-be",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
    "ppc64le": "ppc64-le",
    "ppc64": "ppc64",
    "ppc": "ppc",
    "s390x": "s390x",
    "s390": "s390",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}
OS_RELEASE_KEYS = {
    "o": "ID",
    "w": "VERSION_ID",
    "W": "VARIANT_ID",
    "B": "BUILD_ID",
    "A": "IMAGE_VERSION",
    "M": "IMAGE_ID",
}
HOST_ONLY = {"H": "hostname", "l": "short hostname", "b": "boot ID", "v": "kernel release"}
_ID128 = lazy_compile(r"[0-9a-fA-F]{32}")


class Specifiers:
    """Expands specifiers for units of one root; reads the root at most once per file."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self._os_release: dict[str, str] | None = None

    def expand(self, text: str, *, name: str, default_instance: str | None) -> str:
        """`text` with its specifiers replaced, in the context of unit `name`."""
        out: list[str] = []
        percent = False
        for char in text:
            if not percent:
                if char == "%":
                    percent = True
                else:
                    out.append(char)
                continue
            percent = False
            out.append("%" if char == "%" else self._value(char, text, name, default_instance))
        if percent:
            out.append("%")  # a stray % at the end stays, as in systemd
        result = "".join(out)
        if len(result) >= names.UNIT_NAME_MAX:
            raise SpecifierError(
                f"{text!r} expands to more than {names.UNIT_NAME_MAX} characters", unknown=False
            )
        return result

    def _value(self, spec: str, text: str, name: str, default_instance: str | None) -> str:
        if spec in "nNpij":
            return _unit_specifier(spec, name, default_instance)
        if spec == "a":
            machine = os.uname().machine  # what platform.machine() returns, without its import
            return ARCHITECTURES.get(machine, machine)
        if spec in OS_RELEASE_KEYS:
            return self._os_release_value(spec, text)
        if spec == "m":
            return self._machine_id(text)
        if spec in HOST_ONLY:
            return self._host_value(spec, text)
        if spec in "uUgG":
            return self._caller(spec)
        raise SpecifierError(f"invalid specifier %{spec} in {text!r}", unknown=True)

    def _os_release_value(self, spec: str, text: str) -> str:
        if self._os_release is None:
            from executor.osinfo import root_os_release  # only %o %w %A %B %W %M need it

            self._os_release = root_os_release(self.root)
        key = OS_RELEASE_KEYS[spec]
        value = self._os_release.get(key, "")
        if not value:
            raise SpecifierError(
                f"cannot resolve %{spec} in {text!r}: {key} is not set in the root's os-release",
                unknown=False,
            )
        return value

    def _machine_id(self, text: str) -> str:
        raw = self.root.read_text_or_empty("/etc/machine-id").strip().replace("-", "")
        if not _ID128.fullmatch(raw) or not raw.strip("0"):
            raise SpecifierError(
                f"cannot resolve %m in {text!r}: the root has no valid /etc/machine-id",
                unknown=False,
            )
        return raw.lower()

    def _host_value(self, spec: str, text: str) -> str:
        if not self.root.is_host_root:
            raise SpecifierError(
                f"cannot resolve %{spec} in {text!r}: the {HOST_ONLY[spec]} is the running "
                "host's, not the root's",
                unknown=False,
            )
        uname = os.uname()
        if spec == "H":
            return uname.nodename
        if spec == "l":
            return uname.nodename.split(".", 1)[0]
        if spec == "v":
            return uname.release
        boot_id = self.root.read_text_or_empty("/proc/sys/kernel/random/boot_id").strip()
        if not boot_id:
            raise SpecifierError(f"cannot resolve %b in {text!r}: no boot ID", unknown=False)
        return boot_id.replace("-", "")

    def _caller(self, spec: str) -> str:
        number = os.getuid() if spec in "uU" else os.getgid()
        if spec in "UG":
            return str(number)
        table = "/etc/passwd" if spec == "u" else "/etc/group"
        for line in self.root.read_text_or_empty(table).splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2] == str(number) and fields[0]:
                return fields[0]
        return "root" if number == 0 else str(number)


def _unit_specifier(spec: str, name: str, default_instance: str | None) -> str:
    kind = names.classify(name)
    stem = name[: name.rfind(".")]
    if spec == "n":
        if kind == names.TEMPLATE and default_instance:
            return names.with_instance(name, default_instance)
        return name
    if spec == "N":
        return stem + default_instance if stem.endswith("@") and default_instance else stem
    if spec == "p":
        return names.prefix(name)
    if spec == "i":
        return names.instance(name) or (default_instance or "")
    return names.prefix(name).rsplit("-", 1)[-1]  # %j
