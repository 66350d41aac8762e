"""The [Install] section of unit files, read with systemd's parser rules.

Line rules (conf-parser.c): lines whose first non-blank character is `#` or
`;` are comments, also inside a continuation; a line ending in an unescaped
backslash continues on the next; `[Section]` headers, `Key=Value` with blanks
around both trimmed. Only `[Install]` is read; keys are case-sensitive.

Value rules: `WantedBy=`, `RequiredBy=`, `UpheldBy=` and `Alias=` are lists,
split on blanks with quotes removed and backslashes kept; each assignment
appends and an empty one resets the list. `Also=` is split without quote
removal, its specifiers expanded at once and each name queued for enabling.
`DefaultInstance=` is one specifier-expanded value.

`UpheldBy=` is systemd 254's; systemd 252 ignores it with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from executor.record import dataclass, field
from executor.units import names
from executor.units.names import INSTANCE, TEMPLATE

WHITESPACE = " \t\n\r"
KNOWN_SECTIONS = (
    "Install",
    "Unit",
    "Automount",
    "Device",
    "Mount",
    "Path",
    "Scope",
    "Service",
    "Slice",
    "Socket",
    "Swap",
    "Target",
    "Timer",
)
LIST_KEYS = {
    "Alias": "aliases",
    "WantedBy": "wanted_by",
    "RequiredBy": "required_by",
    "UpheldBy": "upheld_by",
}


class SpecifierError(Exception):
    """A %-specifier that is unknown, or cannot be resolved for this root."""

    def __init__(self, message: str, *, unknown: bool) -> None:
        super().__init__(message)
        self.unknown = unknown


class InstallError(Exception):
    """The unit file cannot be used (systemctl: `file "NAME": Invalid argument`)."""


@dataclass
class InstallSection:
    """What the [Install] sections of a unit file and its drop-ins say, merged.

    List values are kept as written (specifiers unexpanded) except `also`,
    which systemd expands while parsing.
    """

    aliases: list[str] = field(default_factory=list)
    wanted_by: list[str] = field(default_factory=list)
    required_by: list[str] = field(default_factory=list)
    upheld_by: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    default_instance: str | None = None
    warnings: list[str] = field(default_factory=list)

    def has_rules(self) -> bool:
        return bool(self.aliases or self.wanted_by or self.required_by or self.upheld_by)


Expand = Callable[[str], str]  # specifier expansion in the unit's context


def parse_install(
    text: str,
    *,
    source: str,
    unit: str,
    into: InstallSection,
    expand: Expand,
    add_also: Callable[[str], None],
) -> None:
    """Read the [Install] lines of `text` (the file at `source`) into `into`.

    `unit` is the name being installed (an instance name when an instance is
    enabled from a template file). `add_also` receives each `Also=` unit.
    Raises InstallError when systemd would refuse the whole file.
    """
    section: str | None = None
    for lineno, line in logical_lines(text):
        if line.startswith("["):
            if not line.endswith("]"):
                raise InstallError(f"{source}:{lineno}: invalid section header {line!r}")
            name = line[1:-1]
            if name not in KNOWN_SECTIONS and not name.startswith("X-"):
                into.warnings.append(f"{source}:{lineno}: unknown section [{name}], ignored")
            section = name
            continue
        if section != "Install":
            continue  # other sections, and lines before any section, say nothing here
        key, sep, value = line.partition("=")
        key, value = key.strip(WHITESPACE), value.strip(WHITESPACE)
        if not sep or not key:
            into.warnings.append(f"{source}:{lineno}: not a KEY=VALUE line, ignored")
            continue
        _assign(
            into,
            key,
            value,
            where=f"{source}:{lineno}",
            unit=unit,
            expand=expand,
            add_also=add_also,
        )


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) with comments dropped and continuations joined.

    The number is that of the last physical line, as systemd reports it.
    """
    pending: str | None = None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    lineno = 0
    for lineno, raw in enumerate(lines, 1):
        stripped = raw.lstrip(WHITESPACE)
        if stripped and stripped[0] in "#;":
            continue
        joined = raw if pending is None else pending + raw
        if _ends_escaped(joined):
            pending = joined[:-1] + " "
            continue
        pending = None
        line = joined.strip(WHITESPACE)
        if line:
            yield lineno, line
    if pending is not None and pending.strip(WHITESPACE):
        yield lineno, pending.strip(WHITESPACE)


def _ends_escaped(line: str) -> bool:
    """True when the line ends in a backslash that is not itself escaped."""
    # an odd run of trailing backslashes; counted by rstrip, not a loop per character
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _assign(
    into: InstallSection,
    key: str,
    value: str,
    *,
    where: str,
    unit: str,
    expand: Expand,
    add_also: Callable[[str], None],
) -> None:
    if key in LIST_KEYS:
        if key == "Alias" and names.unit_type(unit) not in names.MAY_ALIAS:
            into.warnings.append(
                f"{where}: Alias= is not allowed for {names.unit_type(unit)} units, ignored"
            )
            return
        attr = LIST_KEYS[key]
        if not value:
            setattr(into, attr, [])
            return
        words, error = split_words(value, unquote=True)
        getattr(into, attr).extend(words)
        if error:
            into.warnings.append(f"{where}: invalid syntax ({error}), rest of line ignored")
    elif key == "Also":
        _assign_also(into, value, where=where, expand=expand, add_also=add_also)
    elif key == "DefaultInstance":
        _assign_default_instance(into, value, where=where, unit=unit, expand=expand)
    else:
        into.warnings.append(f"{where}: unknown key {key!r} in [Install], ignored")


def _assign_also(
    into: InstallSection,
    value: str,
    *,
    where: str,
    expand: Expand,
    add_also: Callable[[str], None],
) -> None:
    words, error = split_words(value, unquote=False)
    if error:
        raise InstallError(f"{where}: Also={value}: {error}")
    for word in words:
        try:
            name = expand(word)
        except SpecifierError as exc:
            raise InstallError(f"{where}: Also={word}: {exc}") from None
        if not names.is_valid(name):
            raise InstallError(f"{where}: Also= names {name!r}, which is not a valid unit name")
        add_also(name)
        into.also.append(name)


def _assign_default_instance(
    into: InstallSection, value: str, *, where: str, unit: str, expand: Expand
) -> None:
    kind = names.classify(unit)
    if kind == INSTANCE:
        return  # an instance is being enabled: its own instance wins, silently
    if kind != TEMPLATE:
        into.warnings.append(f"{where}: DefaultInstance= only makes sense for templates, ignored")
        return
    try:
        printed = expand(value)
    except SpecifierError as exc:
        raise InstallError(f"{where}: DefaultInstance={value}: {exc}") from None
    if printed and not names.instance_is_valid(printed):
        raise InstallError(f"{where}: invalid DefaultInstance= value {printed!r}")
    into.default_instance = printed or None


def split_words(value: str, *, unquote: bool) -> tuple[list[str], str]:
    """Blank-separated words as systemd's extract_first_word gives them.

    With `unquote` (list settings): quotes group and are removed, backslashes
    are kept as they are. Without (Also=): quotes are ordinary characters and
    a backslash takes the next character literally. Returns the words read
    and an error text ("" when the whole value was read).
    """
    words: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in WHITESPACE:
            i += 1
        if i >= n:
            return words, ""
        word: list[str] = []
        quote = ""
        while i < n:
            char = value[i]
            if quote:
                if char == quote:
                    quote = ""
                else:
                    word.append(char)
            elif char in WHITESPACE:
                break
            elif unquote and char in "'\"":
                quote = char
            elif not unquote and char == "\\":
                if i + 1 >= n:
                    return words, "trailing backslash"
                i += 1
                word.append(value[i])
            else:
                word.append(char)
            i += 1
        if quote:
            return words, "unterminated quote"
        words.append("".join(word))
