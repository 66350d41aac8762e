"""systemd unit names: validity, kinds, templates and instances, mangling.

The rules are systemd's (unit-name.c): a name is `PREFIX[@INSTANCE].TYPE`,
made of ASCII letters, digits and `:-_.\\`, with `@` allowed after the first
character; shorter than 256 characters; TYPE one of the unit types below.
"""

from __future__ import annotations

UNIT_NAME_MAX = 256
UNIT_TYPES = (
    "service",
    "mount",
    "swap",
    "socket",
    "target",
    "device",
    "automount",
    "timer",
    "path",
    "slice",
    "scope",
)
# Unit types that may have Alias= names and alias symlinks (unit_type_may_alias).
MAY_ALIAS = frozenset(("service", "socket", "target", "device", "timer", "path"))
# Unit types that may be templates or instances (unit_type_may_template).
MAY_TEMPLATE = frozenset(("service", "socket", "target", "timer", "path"))

PLAIN, INSTANCE, TEMPLATE = "plain", "instance", "template"
ANY = frozenset((PLAIN, INSTANCE, TEMPLATE))

# string.ascii_letters + string.digits, spelt out: `string` costs a run its import
_VALID = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:-_.\\")
_VALID_WITH_AT = _VALID | {"@"}


class UnitNameError(ValueError):
    """A name that is not, and cannot be made into, a valid unit name."""


def classify(name: str) -> str | None:
    """PLAIN, INSTANCE or TEMPLATE; None when `name` is not a valid unit name."""
    if not name or len(name) >= UNIT_NAME_MAX:
        return None
    dot = name.rfind(".")
    if dot <= 0 or name[dot + 1 :] not in UNIT_TYPES:
        return None
    stem = name[:dot]
    if any(c not in _VALID_WITH_AT for c in stem):
        return None
    at = stem.find("@")
    if at == 0:
        return None
    if at < 0:
        return PLAIN
    return TEMPLATE if at == len(stem) - 1 else INSTANCE


def is_valid(name: str, kinds: frozenset[str] = ANY) -> bool:
    return classify(name) in kinds


def unit_type(name: str) -> str | None:
    """The type suffix (`service`, `timer`, ...) of a name, None if it has none."""
    dot = name.rfind(".")
    if dot < 0:
        return None
    suffix = name[dot + 1 :]
    return suffix if suffix in UNIT_TYPES else None


def prefix(name: str) -> str:
    """The part before `@`, or before the suffix for a plain name (%p)."""
    dot = name.rfind(".")
    stem = name[:dot] if dot >= 0 else name
    return stem.split("@", 1)[0]


def instance(name: str) -> str:
    """The instance of `foo@bar.service` (`bar`); "" for templates and plain names."""
    dot = name.rfind(".")
    stem = name[:dot] if dot >= 0 else name
    return stem.split("@", 1)[1] if "@" in stem else ""


def template_of(name: str) -> str:
    """`foo@.service` for `foo@bar.service`; raises for names without `@`."""
    if classify(name) not in (INSTANCE, TEMPLATE):
        raise UnitNameError(f"{name} is not a template or an instance")
    dot = name.rfind(".")
    return f"{prefix(name)}@{name[dot:]}"


def with_instance(name: str, inst: str) -> str:
    """`foo@INST.service` from a template or instance name."""
    dot = name.rfind(".")
    return f"{prefix(name)}@{inst}{name[dot:]}"


def instance_is_valid(inst: str) -> bool:
    return bool(inst) and all(c in _VALID_WITH_AT for c in inst)


def escape(text: str) -> str:
    """systemctl's mangling escape: `/` -> `-`, other invalid bytes -> `\\xNN`."""
    out = []
    for byte in text.encode("utf-8", errors="surrogateescape"):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif char in _VALID_WITH_AT:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def mangle(arg: str, suffix: str = ".service") -> str:
    """A unit name from what a user wrote, as `systemctl` turns its arguments into names.

    A valid name is kept; otherwise invalid characters are escaped and, when
    the result has no unit type, `.service` is appended (`foo` -> `foo.service`,
    `foo.bogus` -> `foo.bogus.service`). Surrounding whitespace is dropped, as
    the shell does for yip's `systemctl enable %s`.
    """
    name = arg.strip()
    if not name:
        raise UnitNameError("empty unit name")
    if classify(name) is not None:
        return name
    mangled = escape(name)
    if unit_type(mangled) is None:
        mangled += suffix
    if classify(mangled) is None:
        raise UnitNameError(f"{arg!r} is not a valid unit name (mangled: {mangled!r})")
    return mangled
