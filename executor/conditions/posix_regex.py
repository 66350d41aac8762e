"""POSIX basic and extended regular expressions, translated to Python's `re`.

grep asks a yes/no question per line: does the line contain a match (or, with
-x, is the whole line a match)? For patterns without back-references that
answer depends only on the language the pattern denotes, not on the matching
strategy, so Python's leftmost-first backtracking gives the same answer as
POSIX leftmost-longest. What has to be exact is the language, so only
constructs whose meaning is certain are translated: literal characters, `.`,
bracket expressions (ASCII members, ranges within digits or within one case,
the POSIX classes), `^`/`$` where they are anchors, `*`, intervals, groups,
and in EREs `+`, `?` and `|`. Everything else (back-references, `\\w`,
`\\<`, GNU's `\\+` in BREs, a `*` that POSIX leaves undefined, collating
elements ...) raises NotNative, and the shell answers instead.

Matching works on bytes. Whether a file is read as ASCII or UTF-8 depends on
the locale grep runs in, which the executor cannot know; a pattern whose
answer could depend on it (`.`, brackets, -i) is refused for input that is not
ASCII.
"""

from __future__ import annotations

import functools
import re

from executor.conditions.shell import NotNative
from executor.record import dataclass, field

MAX_GROUP_DEPTH = 32  # deeper nesting goes to the shell rather than deep into recursion
RE_DUP_MAX = 255  # larger intervals are refused (GNU's own limit is 32767)

_DIGITS = "0123456789"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_CLASS_MEMBERS = {
    "alpha": _LOWER + _UPPER,
    "digit": _DIGITS,
    "alnum": _LOWER + _UPPER + _DIGITS,
    "upper": _UPPER,
    "lower": _LOWER,
    "space": " \t\n\v\f\r",
    "blank": " \t",
    "punct": _PUNCT,
    "print": "".join(map(chr, range(32, 127))),
    "graph": "".join(map(chr, range(33, 127))),
    "cntrl": "".join(map(chr, range(32))) + "\x7f",
    "xdigit": _DIGITS + "abcdefABCDEF",
}
# The POSIX classes over ASCII, which every locale agrees on.
_CLASSES = {name: frozenset(map(ord, chars)) for name, chars in _CLASS_MEMBERS.items()}


# -- the parsed pattern ------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    byte: int


@dataclass(frozen=True)
class AnyChar:
    pass


@dataclass(frozen=True)
class Bracket:
    members: frozenset[int]
    negated: bool


@dataclass(frozen=True)
class Anchor:
    at_start: bool


@dataclass(frozen=True)
class Group:
    branches: tuple[tuple[Atom, ...], ...]


@dataclass(frozen=True)
class Repeat:
    atom: Atom
    low: int
    high: int | None  # None: no upper bound


Atom = Literal | AnyChar | Bracket | Anchor | Group | Repeat


@dataclass
class _State:
    text: str
    extended: bool
    pos: int = 0
    depth: int = 0
    uses_class: bool = field(default=False)  # `.` or a bracket: locale dependent

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)


def parse(pattern: str, *, extended: bool) -> tuple[Group, bool]:
    """The pattern as a tree, and whether it uses `.` or a bracket expression."""
    _check_characters(pattern)
    state = _State(pattern, extended)
    if extended:
        tree = _ere_alternation(state)
        if not state.at_end():
            raise NotNative(f"unmatched `{state.peek()}` in the pattern")
    else:
        tree = Group((_bre_sequence(state),))
    return tree, state.uses_class


def _check_characters(pattern: str) -> None:
    if not pattern.isascii():
        raise NotNative("a non-ASCII pattern (its meaning depends on the locale)")
    if "\n" in pattern:
        raise NotNative("a pattern with a newline (several patterns)")


def _check_depth(state: _State) -> None:
    if state.depth > MAX_GROUP_DEPTH:
        raise NotNative(f"groups nested deeper than {MAX_GROUP_DEPTH}")


def _quantify(items: list[Atom], low: int, high: int | None) -> None:
    if not items:
        raise NotNative("a repetition with nothing before it")
    atom = items[-1]
    if isinstance(atom, Repeat | Anchor):
        raise NotNative("a repetition of a repetition or of an anchor")
    if isinstance(atom, Group) and _has_repeat_or_choice(atom):
        # (a*)* or (a|ab)*: exact, but Python's backtracking can take
        # exponential time on them, and a boot must not hang on a condition.
        raise NotNative("a repeated group that itself repeats or alternates")
    items[-1] = Repeat(atom, low, high)


def _has_repeat_or_choice(group: Group) -> bool:
    if len(group.branches) > 1:
        return True
    for atom in group.branches[0]:
        if isinstance(atom, Repeat | Anchor):
            return True
        if isinstance(atom, Group) and _has_repeat_or_choice(atom):
            return True
    return False


def _interval(state: _State, closing: str) -> tuple[int, int | None]:
    """Read `m}`, `m,}` or `m,n}` (closing is `}` or `\\}`); refuse anything else."""
    match = re.compile(r"([0-9]+)(,([0-9]*))?" + re.escape(closing)).match(state.text, state.pos)
    if match is None:
        raise NotNative("an interval that is not {m}, {m,} or {m,n}")
    low = int(match.group(1))
    high: int | None = low
    if match.group(2):
        high = int(match.group(3)) if match.group(3) else None
    if low > RE_DUP_MAX or (high is not None and (high > RE_DUP_MAX or high < low)):
        raise NotNative("an interval out of range")
    state.pos = match.end()
    return low, high


_BRE_ESCAPABLE = set(".[]*^$\\/")
_ERE_ESCAPABLE = _BRE_ESCAPABLE | set("()|+?{}")


def _bre_sequence(state: _State) -> tuple[Atom, ...]:
    items: list[Atom] = []
    while not state.at_end():
        c = state.peek()
        if c == "\\":
            nxt = state.peek(1)
            if nxt == "(":
                state.pos += 2
                state.depth += 1
                _check_depth(state)
                inner = _bre_sequence(state)
                if state.peek() != "\\" or state.peek(1) != ")":
                    raise NotNative("an unclosed \\(")
                state.pos += 2
                state.depth -= 1
                if not inner:
                    raise NotNative("an empty group")
                items.append(Group((inner,)))
                continue
            if nxt == ")":
                if state.depth == 0:
                    raise NotNative("an unmatched \\)")
                return tuple(items)
            if nxt == "{":
                state.pos += 2
                _quantify(items, *_interval(state, "\\}"))
                continue
            if nxt in _BRE_ESCAPABLE:
                items.append(Literal(ord(nxt)))
                state.pos += 2
                continue
            raise NotNative(f"the escape \\{nxt} in a basic regular expression")
        if c == "*":
            if not items:
                raise NotNative("a leading `*` (undefined in POSIX)")
            _quantify(items, 0, None)
            state.pos += 1
            continue
        if c == "^":
            if state.pos != 0:
                raise NotNative("`^` that is not at the start of the pattern")
            items.append(Anchor(at_start=True))
            state.pos += 1
            continue
        if c == "$":
            if state.pos != len(state.text) - 1 or state.depth:
                raise NotNative("`$` that is not at the end of the pattern")
            items.append(Anchor(at_start=False))
            state.pos += 1
            continue
        items.append(_single(state))
    if state.depth:
        raise NotNative("an unclosed \\(")
    return tuple(items)


def _ere_alternation(state: _State) -> Group:
    branches = [_ere_branch(state)]
    while state.peek() == "|":
        state.pos += 1
        branches.append(_ere_branch(state))
    if len(branches) > 1 and any(not b for b in branches):
        raise NotNative("an empty alternative")
    return Group(tuple(branches))


def _ere_branch(state: _State) -> tuple[Atom, ...]:
    items: list[Atom] = []
    while not state.at_end():
        c = state.peek()
        if c == "|":
            break
        if c == ")":
            if state.depth == 0:
                raise NotNative("an unmatched `)`")
            break
        if c == "(":
            state.pos += 1
            state.depth += 1
            _check_depth(state)
            group = _ere_alternation(state)
            if state.peek() != ")":
                raise NotNative("an unclosed `(`")
            state.pos += 1
            state.depth -= 1
            if group.branches == ((),):
                raise NotNative("an empty group")
            items.append(group)
            continue
        if c in "*+?":
            state.pos += 1
            _quantify(items, 1 if c == "+" else 0, 1 if c == "?" else None)
            continue
        if c == "{":
            state.pos += 1
            _quantify(items, *_interval(state, "}"))
            continue
        if c in "^$":
            items.append(Anchor(at_start=c == "^"))
            state.pos += 1
            continue
        if c == "\\":
            nxt = state.peek(1)
            if nxt not in _ERE_ESCAPABLE or nxt == "":
                raise NotNative(f"the escape \\{nxt} in an extended regular expression")
            items.append(Literal(ord(nxt)))
            state.pos += 2
            continue
        items.append(_single(state))
    return tuple(items)


def _single(state: _State) -> Atom:
    """A literal character, `.`, or a bracket expression."""
    c = state.peek()
    if c == ".":
        state.pos += 1
        state.uses_class = True
        return AnyChar()
    if c == "[":
        state.uses_class = True
        return _bracket(state)
    state.pos += 1
    return Literal(ord(c))


def _bracket(state: _State) -> Bracket:
    text = state.text
    i = state.pos + 1
    negated = i < len(text) and text[i] == "^"
    if negated:
        i += 1
    members: set[int] = set()
    first = True
    while True:
        if i >= len(text):
            raise NotNative("an unclosed bracket expression")
        c = text[i]
        if c == "]" and not first:
            i += 1
            break
        if c == "-" and not first and text[i + 1 : i + 2] != "]":
            raise NotNative("a `-` inside a bracket expression that is neither first nor last")
        first = False
        if c == "[" and i + 1 < len(text) and text[i + 1] in ".=:":
            kind = text[i + 1]
            end = text.find(kind + "]", i + 2)
            if kind != ":" or end < 0 or text[i + 2 : end] not in _CLASSES:
                raise NotNative("a collating element, equivalence class or unknown class")
            members |= _CLASSES[text[i + 2 : end]]
            i = end + 2
            continue
        if i + 2 < len(text) and text[i + 1] == "-" and text[i + 2] != "]":
            low, high = c, text[i + 2]
            if not _same_kind_range(low, high):
                raise NotNative(f"the range {low}-{high} (its meaning depends on the locale)")
            members |= set(range(ord(low), ord(high) + 1))
            i += 3
            continue
        members.add(ord(c))
        i += 1
    state.pos = i
    return Bracket(frozenset(members), negated)


def _same_kind_range(low: str, high: str) -> bool:
    if low > high:
        return False
    return any(low in kind and high in kind for kind in (_DIGITS, _LOWER, _UPPER))


# -- translation to Python ---------------------------------------------------


def _fold(members: frozenset[int] | set[int]) -> set[int]:
    out = set(members)
    for b in members:
        ch = chr(b)
        if ch.isascii() and ch.isalpha():
            out.add(ord(ch.lower()))
            out.add(ord(ch.upper()))
    return out


def _set_text(members: set[int]) -> str:
    return "".join(f"\\x{b:02x}" for b in sorted(members))


def _emit(atom: Atom, fold: bool) -> str:
    if isinstance(atom, Literal):
        if fold and chr(atom.byte).isalpha():
            return f"[{_set_text(_fold({atom.byte}))}]"
        return f"\\x{atom.byte:02x}"
    if isinstance(atom, AnyChar):
        return "[^\\n]"
    if isinstance(atom, Bracket):
        members = _fold(atom.members) if fold else set(atom.members)
        if atom.negated:
            return f"[^\\n{_set_text(members)}]"
        members.discard(ord("\n"))
        return f"[{_set_text(members)}]" if members else "(?!)"
    if isinstance(atom, Anchor):
        return "^" if atom.at_start else "$"
    if isinstance(atom, Group):
        return "(?:" + "|".join("".join(_emit(a, fold) for a in b) for b in atom.branches) + ")"
    inner = _emit(atom.atom, fold)
    if atom.high is None:
        suffix = "*" if atom.low == 0 else "+" if atom.low == 1 else f"{{{atom.low},}}"
    elif atom.low == atom.high:
        suffix = f"{{{atom.low}}}"
    else:
        suffix = "?" if (atom.low, atom.high) == (0, 1) else f"{{{atom.low},{atom.high}}}"
    return inner + suffix


@dataclass(frozen=True)
class Matcher:
    """Answers grep's question for a whole input: is any line selected?"""

    regex: re.Pattern[bytes]
    locale_dependent: bool  # the answer may differ on non-ASCII input

    def any_line_selected(self, data: bytes, *, invert: bool) -> bool:
        if self.locale_dependent and not data.isascii():
            raise NotNative("a locale-dependent pattern on non-ASCII input")
        # GNU grep treats the NUL bytes of a binary file as line ends.
        data = data.replace(b"\0", b"\n")
        if not data:
            return False  # no lines at all
        body = data[:-1] if data.endswith(b"\n") else data
        if not invert:
            # The pattern never matches a newline, so one MULTILINE search
            # over the whole input asks "does some line match".
            return self.regex.search(body) is not None
        return any(self.regex.search(line) is None for line in body.split(b"\n"))


@functools.lru_cache(maxsize=256)
def compile_matcher(pattern: str, *, mode: str, ignore_case: bool, whole_line: bool) -> Matcher:
    """Build the matcher for grep -G (BRE), -E (ERE) or -F (fixed string)."""
    if mode == "F":
        _check_characters(pattern)
        tree = Group((tuple(Literal(ord(c)) for c in pattern),))
        uses_class = False
    else:
        tree, uses_class = parse(pattern, extended=mode == "E")
    source = _emit(tree, ignore_case)
    if whole_line:
        source = f"^{source}$"
    folds = ignore_case and any(c.isalpha() for c in pattern)
    regex = re.compile(source.encode("ascii"), re.MULTILINE)
    return Matcher(regex, uses_class or folds)
