"""What is published where: the records the hub keeps and every client mirrors.

How it works: the hub owns the truth. Each client asks for a snapshot once and then receives a
"published"/"unpublished" event for every change, in order, on the same connection, so its
mirror never misses one. Waiters block on ``Directory.changed.wait()``, a broadcast that every
change wakes, so there is no polling.

Threads: one thread changes a directory (its event loop's); other threads may read it with
:meth:`Directory.peek`, :meth:`Directory.pick` and :meth:`Directory.addresses` (``hubcore.sync``'s
blocking calls do). That is safe because a change never alters a list a reader may hold: it
builds the name's new list, complete and sorted, and swaps it in with one assignment, and a
snapshot swaps in a whole new mapping. A reader sees the state before a change or after it,
never half of one; at worst it misses a name that is being replaced, and waits for it as any
caller of a name not published does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from hubcore._changes import Changes

__all__ = ("Directory", "ObjectInfo")


@dataclass(frozen=True)
class ObjectInfo:
    """One published instance of a name.

    ``generation`` grows with every publication on the hub, so a restarted publisher is told
    apart from its previous life. ``origin`` is the generation the object was first published
    under: when a hub restarts, a publisher publishes its objects again, each under a new
    generation with its old origin, which tells subscribers that nothing was replaced.
    """

    name: str
    process: str
    instance: int
    pid: int
    address: str
    generation: int
    methods: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    origin: int = 0

    @property
    def label(self) -> str:
        """``process.instance``, as logs and errors name it."""
        return f"{self.process}.{self.instance}"

    def to_wire(self) -> dict[str, Any]:
        """Plain values for the wire."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ObjectInfo:
        """Rebuild from :meth:`to_wire` output, ignoring fields this version does not know."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("methods", "streams", "properties"):
            known[key] = tuple(known.get(key, ()))
        return cls(**known)


class Directory:
    """A name -> instances mapping with change notification and round-robin choice."""

    def __init__(self) -> None:
        self._entries: dict[str, list[ObjectInfo]] = {}
        self._turn: dict[str, Iterator[int]] = {}
        self.changed = Changes()

    def names(self) -> tuple[str, ...]:
        """Published names, sorted."""
        return tuple(sorted(self._entries))

    def instances(self, name: str) -> list[ObjectInfo]:
        """Every instance of ``name`` (empty if none)."""
        return self._entries.get(name, [])

    def all(self) -> list[ObjectInfo]:
        """Every instance of every name."""
        return [info for name in self.names() for info in self._entries[name]]

    def peek(self, name: str, instance: int | None = None) -> ObjectInfo | None:
        """The pinned instance, or any instance, without taking a round-robin turn."""
        entries = self._entries.get(name)
        if not entries:
            return None
        if instance is None:
            return entries[0]
        return next((e for e in entries if e.instance == instance), None)

    def pick(self, name: str, instance: int | None = None) -> ObjectInfo | None:
        """The next instance in round-robin order, or the pinned one; None if absent."""
        entries = self._entries.get(name)
        if not entries:
            return None
        if instance is not None:
            return next((e for e in entries if e.instance == instance), None)
        if len(entries) == 1:
            return entries[0]
        turn = self._turn.setdefault(name, itertools.count())
        return entries[next(turn) % len(entries)]

    def add(self, info: ObjectInfo) -> None:
        """Record a publication (replacing an older one of the same name and instance)."""
        entries = [e for e in self._entries.get(info.name, []) if e.instance != info.instance]
        entries.append(info)
        entries.sort(key=lambda e: e.instance)
        self._entries[info.name] = entries
        self.changed.notify()

    def remove(self, info: ObjectInfo) -> None:
        """Forget a publication (only that generation: a newer one stays)."""
        entries = [e for e in self._entries.get(info.name, []) if e.generation != info.generation]
        if entries:
            self._entries[info.name] = entries
        else:
            self._entries.pop(info.name, None)
        self.changed.notify()

    def addresses(self) -> set[str]:
        """The peer listener of every instance published now."""
        return {info.address for entries in list(self._entries.values()) for info in entries}

    def replace_all(self, infos: list[ObjectInfo]) -> None:
        """Load a snapshot."""
        entries: dict[str, list[ObjectInfo]] = {}
        for info in infos:
            entries.setdefault(info.name, []).append(info)
        self._entries = entries  # one swap: a reader in another thread never sees it half-built
        self.changed.notify()
