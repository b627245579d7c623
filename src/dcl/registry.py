"""A small name -> object registry, used for architectures, methods, datasets and presets.

    ARCHS = Registry("architecture")

    @ARCHS.register("fc", description="3-layer fully connected network (paper Table VI)")
    def build_fc(...): ...

    ARCHS.get("fc")        # the builder; an unknown name raises DCLError listing valid names
    ARCHS.names()          # names in registration order
    ARCHS.options("fc")    # the hyperparameters the entry declares (dcl.config.options.Option)

An entry's ``options`` are given to :meth:`Registry.register` or read from the object's own
``options`` attribute (a method class declares them there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Iterable, Iterator, TypeVar

from .errors import choices_error

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    description: str
    options: tuple = ()


class Registry(Generic[T]):
    """Maps names to objects. Registration order is kept; lookups are by exact name."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, obj: T | None = None, *, description: str = "",
                 options: Iterable[Any] | None = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj`` acts as a decorator. ``options``:
        the hyperparameters it reads (default: ``obj.options`` if it has them)."""
        from .config.options import check_declarations  # torch-free; config imports this module

        def add(o: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            desc = description or (o.__doc__ or "").strip().splitlines()[0:1]
            if isinstance(desc, list):
                desc = desc[0] if desc else ""
            opts = check_declarations(f"{self.kind} {name}", options if options is not None else getattr(o, "options", ()))
            self._entries[name] = Entry(name, o, desc, opts)
            return o

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        try:
            return self._entries[name].obj
        except KeyError:
            raise choices_error(self.kind, name, self.names()) from None

    def options(self, name: str) -> tuple:
        """The :class:`~dcl.config.options.Option` objects entry ``name`` declares."""
        self.get(name)
        return self._entries[name].options

    def describe(self, name: str) -> str:
        self.get(name)
        return self._entries[name].description

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
