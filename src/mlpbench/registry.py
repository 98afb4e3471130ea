"""Registries: each kind of option (backends, optimizers, schedules, activations, init schemes)
maps its names to what implements them, in one place.

Config validation, the backends, the report's labels and the DVC matrix read the names from here;
nothing else lists them. Adding an option means registering it where it is defined.
"""
from __future__ import annotations

import re
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class Registry(Generic[T]):
    """Names of one kind of option, in registration order, each mapped to one entry."""

    def __init__(self, kind: str, pattern: str | None = None) -> None:
        self.kind = kind
        self.pattern = pattern  # a regular expression every name must match, if any
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None):
        """``register(name, entry)``, or ``@register(name)`` above a class or function."""
        if entry is None:
            return lambda obj: self.register(name, obj)
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        if self.pattern is not None and not re.fullmatch(self.pattern, name):
            raise ValueError(f"{self.kind} name {name!r} does not match {self.pattern}; register it under a name "
                             "that does")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        """Remove ``name`` (e.g. a test's own entry) and return its entry."""
        self[name]  # an unknown name raises, listing the registered ones
        return self._entries.pop(name)

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self._entries)}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())


def implementations(registry: Registry, table: dict[str, Callable], where: str,
                    unsupported: tuple[str, ...] = ()) -> dict[str, Callable]:
    """Check that ``table`` (one backend's factories) covers the registered names; return it.

    Called where a backend defines its factories, so a name registered without an implementation
    in a backend fails at import, naming the backend and the missing option, unless the backend
    declares it ``unsupported`` (``options.BackendSpec.unsupported``; config validation refuses it).
    """
    missing = [n for n in registry if n not in table and n not in unsupported]
    extra = [n for n in table if n not in registry]
    if missing or extra:
        raise TypeError(f"{where} implements {registry.kind}s {sorted(table)}, but the registry has "
                        f"{list(registry)}: missing {missing}, unregistered {extra}; implement the missing "
                        "ones or declare them unsupported in its BackendSpec")
    return table
