"""Regular expressions compiled on first use, not at import.

`re` compiles in Python: 0.3 to 3M instructions a pattern. A module-level
`re.compile` pays that in every run, at import, for patterns most runs never
reach (the careful shell tokenizer, integer tests, unit-name checks on a
config without units ...). `lazy_compile` has the same spelling and type.
"""

from __future__ import annotations

import re


class LazyPattern:
    """Stands for `re.compile(pattern, flags)` until an attribute is first used.

    The compiled pattern's attribute (a bound method, mostly) is then kept in
    this object's own dict, so every later `p.match` is an ordinary attribute
    lookup that never reaches `__getattr__` again.
    """

    def __init__(self, pattern: str, flags: int) -> None:
        self._pattern = pattern
        self._flags = flags

    def __getattr__(self, name: str) -> object:
        value = getattr(re.compile(self._pattern, self._flags), name)  # re caches the compile
        self.__dict__[name] = value
        return value


def lazy_compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`re.compile(pattern, flags)`, compiled at the first use of the result."""
    return LazyPattern(pattern, flags)  # type: ignore[return-value]  # quacks as one
