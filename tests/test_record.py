"""executor.record behaves as dataclasses does, before and after it compiles __init__."""

from __future__ import annotations

import dataclasses

import pytest

from executor import record
from executor.record import COMPILE_AFTER, FrozenInstanceError, dataclass, field, replace


@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict, compare=False)


@dataclass
class Mutable:
    name: str
    items: list[int] = field(default_factory=list)
    flag: bool = field(default=False, kw_only=True)


@dataclass
class Child(Mutable):
    more: int = 1


@dataclass
class WithPost:
    a: int
    doubled: int = 0

    def __post_init__(self) -> None:
        self.doubled = self.a * 2


@dataclasses.dataclass(frozen=True)
class StdPoint:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = dataclasses.field(default_factory=dict, compare=False)


def _make_points(n: int) -> list[Point]:
    return [Point(i, y=i + 1) for i in range(n)]


@pytest.mark.parametrize("phase", ["interpreted", "compiled"])
def test_same_behaviour_as_dataclasses_in_both_phases(phase: str) -> None:
    if phase == "compiled":
        _make_points(COMPILE_AFTER + 1)  # past the threshold: the class compiles its __init__
        assert Point.__init__.__qualname__ == "Point.__init__"
    p, q = Point(1, 2, ("a",)), StdPoint(1, 2, ("a",))
    assert (p.x, p.y, p.tags, p.extra) == (q.x, q.y, q.tags, q.extra)
    assert repr(p) == repr(q).replace("StdPoint", "Point")
    assert p == Point(1, 2, ("a",), {"ignored": 1})  # compare=False field
    assert hash(p) == hash(Point(1, 2, ("a",)))
    assert p != Point(1, 3, ("a",)) and p != q
    assert Point(5).extra is not Point(5).extra  # a fresh default per instance
    with pytest.raises(FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, (), {}, 5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)  # type: ignore[call-arg]
    assert replace(p, y=9) == Point(1, 9, ("a",))
    with pytest.raises(TypeError):
        replace(p, z=1)


def test_mutable_kw_only_inheritance_and_post_init() -> None:
    m = Mutable("a", flag=True)
    m.items.append(1)
    assert Mutable("b").items == []
    with pytest.raises(TypeError):
        Mutable("a", [], True)  # type: ignore[misc]
    c = Child("c", [2], more=3)
    assert (c.name, c.items, c.flag, c.more) == ("c", [2], False, 3)
    assert [f.name for f in record.fields(c)] == ["name", "items", "flag", "more"]
    assert WithPost(4).doubled == 8
    for _ in range(COMPILE_AFTER + 2):
        assert WithPost(3).doubled == 6
