"""Typed records with the `dataclasses` interface and a fraction of its start-up cost.

Start-up is boot time: the standard `dataclasses` module costs about
4 ms to import (it pulls in `inspect`), and each class it decorates costs
0.3-0.7 ms more, because it compiles every generated method separately. This
package defines about eighty record classes, which made `dataclasses` alone a
third of the executor's start-up.

`dataclass` here supports what the package uses, with the same meaning:
`frozen`, `eq`, `repr`, `kw_only`, fields with defaults, `field(default=...,
default_factory=..., repr=..., compare=..., kw_only=...)`, inheritance of
fields from record bases, `__post_init__`, and `replace()`. It compiles one
`__init__` per class (so instances are as cheap to make as with `dataclasses`)
and shares plain functions for `__eq__`, `__hash__`, `__repr__` and the frozen
guards. Type checkers see it through `dataclass_transform` (PEP 681).
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # mypy takes it as True; a run need not import typing
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform, overload

    T = TypeVar("T")
else:  # both decorators only inform type checkers: identities at run time

    def dataclass_transform(**_: object) -> Callable[[Any], Any]:
        return lambda fn: fn

    def overload(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn


_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()
_FIELDS = "__record_fields__"
COMPILE_AFTER = 64  # instances made by the generic __init__ before it is compiled


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    __slots__ = ("compare", "default", "default_factory", "kw_only", "name", "repr")

    def __init__(
        self,
        default: Any,
        default_factory: Any,
        repr: bool,
        compare: bool,
        kw_only: bool | None,
    ) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.compare = compare
        self.kw_only = kw_only


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | Any = _MISSING,
    repr: bool = True,
    compare: bool = True,
    kw_only: bool | None = None,
) -> Any:
    """Options of one field, as `dataclasses.field`."""
    return Field(default, default_factory, repr, compare, kw_only)


@overload
def dataclass(cls: type[T], /) -> type[T]: ...


@overload
def dataclass(  # noqa: F811 (ruff sees the run-time `overload` stand-in, not typing's)
    *,
    frozen: bool = False,
    eq: bool = True,
    repr: bool = True,
    kw_only: bool = False,
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field, Field))
def dataclass(  # noqa: F811 (the implementation of the overloads above)
    cls: type[T] | None = None,
    /,
    *,
    frozen: bool = False,
    eq: bool = True,
    repr: bool = True,
    kw_only: bool = False,
) -> type[T] | Callable[[type[T]], type[T]]:
    """Make `cls` a record, as `dataclasses.dataclass` would."""

    def wrap(klass: type[T]) -> type[T]:
        return _process(klass, frozen=frozen, eq=eq, repr=repr, kw_only=kw_only)

    return wrap if cls is None else wrap(cls)


def _own_fields(cls: type, kw_only: bool) -> list[Field]:
    out = []
    # inspect.get_annotations would import `inspect`: the very cost this module avoids
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in own.items():
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        if text.startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, Field) else Field(value, _MISSING, True, True, None)
        spec.name = name
        if spec.kw_only is None:
            spec.kw_only = kw_only
        if isinstance(value, Field):
            if spec.default is _MISSING:
                delattr(cls, name)  # no class attribute for a factory or required field
            else:
                setattr(cls, name, spec.default)
        out.append(spec)
    return out


# Record classes whose fields are not collected yet, with their kw_only flag.
_pending: dict[type, bool] = {}


def _process(cls: type[T], *, frozen: bool, eq: bool, repr: bool, kw_only: bool) -> type[T]:
    # The fields are collected when first needed (the first instance, or
    # fields()), not here: a run imports some eighty record classes and
    # makes instances of a fraction of them.
    _pending[cls] = kw_only
    methods: dict[str, Any] = {"__init__": _first_init(cls, frozen)}
    if repr:
        methods["__repr__"] = _repr
    if eq:
        methods["__eq__"] = _eq
        methods["__hash__"] = _hash if frozen else None
    if frozen:
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_delattr
    for name, method in methods.items():
        setattr(cls, name, method)
    return cls


def _specs_of(cls: type) -> tuple[Field, ...]:
    """The fields of record class `cls`, its bases' first, collected on first use."""
    specs: tuple[Field, ...] | None = cls.__dict__.get(_FIELDS)
    if specs is not None:
        return specs
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        if base in _pending or _FIELDS in base.__dict__:
            for spec in _specs_of(base):
                inherited[spec.name] = spec
    kw_only = _pending.get(cls)
    if kw_only is not None:  # a record class itself, not a plain subclass of one
        for spec in _own_fields(cls, kw_only):
            inherited[spec.name] = spec
    specs = tuple(inherited.values())
    setattr(cls, _FIELDS, specs)
    _pending.pop(cls, None)
    return specs


def _first_init(cls: type, frozen: bool) -> Callable[..., None]:
    """An __init__ that interprets the fields until the class proves hot.

    Compiling an __init__ costs about 0.1 ms; most record classes are made a
    handful of times in one boot stage, or never. The first COMPILE_AFTER
    instances are set up by this generic one (dict updates, not a Python
    loop per field, where the call gives every field); after that the class
    gets its compiled __init__, as fast as a dataclass's.
    """
    missing = _MISSING
    made = 0
    # (positional names, all names, per field (name, factory, default),
    # whether there is a __post_init__), worked out at the first instance
    layout: tuple[list[str], frozenset[str], tuple[tuple[str, Any, Any], ...], bool] | None = None

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal made, layout
        made += 1
        if made > COMPILE_AFTER and cls.__dict__.get("__init__") is __init__:
            real = _make_init(cls, _specs_of(cls), frozen)
            cls.__init__ = real  # type: ignore[misc]
            real(self, *args, **kwargs)
            return
        if layout is None:
            specs = _specs_of(cls)
            layout = (
                [s.name for s in specs if not s.kw_only],
                frozenset(s.name for s in specs),
                tuple((s.name, s.default_factory, s.default) for s in specs),
                hasattr(cls, "__post_init__"),
            )
        positional, names, plan, post_init = layout
        # Stored straight into the new instance's dict: what object.__setattr__
        # would do for these plain attributes (no record field is a descriptor).
        state = self.__dict__
        if args:
            if len(args) > len(positional):
                raise TypeError(
                    f"{cls.__qualname__}() takes {len(positional)} positional arguments"
                )
            state.update(zip(positional, args, strict=False))
        if kwargs:
            for key in kwargs:
                if key not in names or key in state:
                    raise TypeError(f"{cls.__qualname__}() got an unexpected or repeated {key!r}")
            state.update(kwargs)
        if len(state) < len(plan):  # fields left to their defaults
            for name, factory, default in plan:
                if name in state:
                    continue
                if factory is not missing:
                    state[name] = factory()
                elif default is not missing:
                    state[name] = default
                else:
                    raise TypeError(f"{cls.__qualname__}() missing argument {name!r}")
        if post_init:
            self.__post_init__()

    return __init__


def _make_init(cls: type, specs: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    """Compile one __init__ with the fields as parameters (one compile per class)."""
    env: dict[str, Any] = {"_MISSING": _MISSING}
    params: list[str] = []
    kw_params: list[str] = []
    body: list[str] = []
    for i, spec in enumerate(specs):
        name = spec.name
        if spec.default_factory is not _MISSING:
            env[f"_f{i}"] = spec.default_factory
            param = f"{name}=_MISSING"
            value = f"_f{i}() if {name} is _MISSING else {name}"
        elif spec.default is not _MISSING:
            env[f"_d{i}"] = spec.default
            param = f"{name}=_d{i}"
            value = name
        else:
            param = name
            value = name
        (kw_params if spec.kw_only else params).append(param)
        # a frozen record's fields go straight into its dict, as in the
        # generic __init__ (object.__setattr__ per field costs a call each)
        body.append(f"  _state[{name!r}] = {value}" if frozen else f"  self.{name} = {value}")
    if frozen and body:
        body.insert(0, "  _state = self.__dict__")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    signature = ", ".join(["self", *params, *(["*", *kw_params] if kw_params else [])])
    source = f"def __init__({signature}):\n" + ("\n".join(body) or "  pass") + "\n"
    # exec of the text, not of compile()'s result: the builtin compile() makes
    # the interpreter build its ~120 AST classes first (~10M instructions)
    exec(source, env)
    init: Callable[..., None] = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _values(obj: object, *, for_compare: bool = False) -> tuple[Any, ...]:
    specs: tuple[Field, ...] = getattr(obj, _FIELDS)
    return tuple(getattr(obj, s.name) for s in specs if s.compare or not for_compare)


def _repr(self: object) -> str:
    specs: tuple[Field, ...] = getattr(self, _FIELDS)
    inner = ", ".join(f"{s.name}={getattr(self, s.name)!r}" for s in specs if s.repr)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: object, other: object) -> Any:  # bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self, for_compare=True) == _values(other, for_compare=True)


def _hash(self: object) -> int:
    return hash(_values(self, for_compare=True))


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of record `obj` with `changes` applied, as `dataclasses.replace`."""
    specs: tuple[Field, ...] = getattr(obj, _FIELDS)
    values = {s.name: getattr(obj, s.name) for s in specs}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(obj)(**values)


def fields(obj: object) -> tuple[Field, ...]:
    """The Field specs of a record class or instance."""
    return _specs_of(obj if isinstance(obj, type) else type(obj))
