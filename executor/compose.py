"""Bounded YAML composition: text -> nodes, refused instead of crashing.

Input is untrusted (configs come from user-writable places), so composing is
bounded: the nesting depth (MAX_DEPTH) and the number of nodes (MAX_NODES).
The converter bounds the nodes visited with aliases and merge keys expanded
(MAX_NODES again, so alias bombs and merge-key bombs are refused) and the
loader the text's length (MAX_TEXT). libyaml's own composer recurses in C
and crashes the interpreter (SIGSEGV) on a 100,000-deep document, which fits
easily in a few hundred kilobytes: so the depth is measured first, on its
events, in a flat loop; without libyaml, PyYAML's Python composer runs with a
depth guard.
"""

from __future__ import annotations

import yaml
from yaml.composer import Composer
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import Node
from yaml.resolver import Resolver

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any

_OPENING = (MappingStartEvent, SequenceStartEvent)
_CLOSING = (MappingEndEvent, SequenceEndEvent)
_LEAVES = (ScalarEvent, AliasEvent)

try:  # libyaml's parser and composer: several times faster than the Python ones
    from yaml import CSafeLoader as _CSafeLoader
    from yaml._yaml import CParser as _EventSource
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _CSafeLoader = None  # type: ignore[assignment,misc]
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventSource(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)


# Upper bound on nodes visited in one document, aliases expanded: a YAML
# "billion laughs" document is refused instead of eating the node's memory.
MAX_NODES = 200_000
# Nesting levels of one document: a cloud-config needs about ten.
MAX_DEPTH = 100
# Characters of one document (the size sources.MAX_SOURCE_BYTES allows a file).
MAX_TEXT = 16 << 20


class LimitExceeded(yaml.YAMLError):
    """A document is deeper or larger than the loader accepts (a YAMLError, so
    that callers handling bad YAML handle it too)."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 0
        self.column = mark.column + 1 if mark is not None else 0


class _BoundedComposer(Composer, _EventSource, Resolver):
    """PyYAML's composer (Python, first in the MRO) over the event source,
    counting depth and nodes as it goes so it stops long before the stack or
    the memory would."""

    def __init__(self, text: str) -> None:
        _EventSource.__init__(self, text)
        Composer.__init__(self)
        Resolver.__init__(self)
        self.depth = 0
        self.count = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.depth += 1
        self.count += 1
        if self.depth > MAX_DEPTH:
            raise LimitExceeded(f"YAML nesting deeper than {MAX_DEPTH} levels", self._mark())
        if self.count > MAX_NODES:
            raise LimitExceeded(f"YAML document has more than {MAX_NODES} nodes", self._mark())
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _mark(self) -> Any:
        event = self.peek_event()
        return event.start_mark if event is not None else None


def compose_bounded(text: str) -> Node | None:
    """`yaml.compose(text)` that refuses (LimitExceeded) instead of crashing."""
    if _CSafeLoader is not None:
        # libyaml's composer recurses without a limit, so measure the depth on
        # its events first (a flat loop); then let it compose, several times
        # faster than the Python composer.
        _check_bounds(text)
        node: Node | None = yaml.compose(text, Loader=_CSafeLoader)
        return node
    composer = _BoundedComposer(text)
    try:
        return composer.get_single_node()
    finally:
        composer.dispose()


def _next_event(events: Any) -> Any:
    """The next parser event; libyaml's own nesting limit (newer builds stop at
    1,000 levels) is reported as ours, so the message does not depend on the
    PyYAML version."""
    try:
        return events.get_event()
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):
            raise LimitExceeded(
                f"YAML nesting deeper than {MAX_DEPTH} levels", exc.problem_mark
            ) from None
        raise


def _check_bounds(text: str) -> None:
    """Raise LimitExceeded when the document nests deeper than MAX_DEPTH or has
    more than MAX_NODES nodes (aliases not expanded: the converter counts those)."""
    events = _EventSource(text)
    depth = count = 0
    try:
        while (event := _next_event(events)) is not None:
            kind = type(event)
            if kind in _OPENING:
                depth += 1
                count += 1
                if depth > MAX_DEPTH:
                    raise LimitExceeded(
                        f"YAML nesting deeper than {MAX_DEPTH} levels", event.start_mark
                    )
            elif kind in _CLOSING:
                depth -= 1
            elif kind in _LEAVES:
                count += 1
            if count > MAX_NODES:
                raise LimitExceeded(
                    f"YAML document has more than {MAX_NODES} nodes", event.start_mark
                )
    finally:
        events.dispose()
