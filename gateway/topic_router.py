"""Topic → handler: the table the bridge routes every incoming message through.

Each part of the bridge declares the MQTT subscriptions it owns with a handler for each (as a Zigbee2MQTT
extension owns its topics); the subscriptions the link makes are exactly this table's patterns. Matching
follows MQTT's wildcard rules (`+` one level, `#` the rest) in a trie, so a lookup costs the topic's depth,
not the number of meters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

H = TypeVar("H")


@dataclass
class _Node(Generic[H]):
    children: dict[str, _Node[H]] = field(default_factory=dict)
    handler: H | None = None  # for a pattern ending here
    rest: H | None = None  # for a pattern ending here with `/#`


class TopicRouter(Generic[H]):
    def __init__(self) -> None:
        self._root: _Node[H] = _Node()
        self._patterns: list[str] = []

    def add(self, pattern: str, handler: H) -> None:
        levels = pattern.split("/")
        if "#" in levels[:-1] or any(("+" in lv or "#" in lv) and len(lv) > 1 for lv in levels):
            raise ValueError(f"{pattern!r} is not an MQTT subscription pattern")
        node = self._root
        for level in levels[:-1] if levels[-1] == "#" else levels:
            node = node.children.setdefault(level, _Node())
        if levels[-1] == "#":
            node.rest = handler
        else:
            node.handler = handler
        self._patterns.append(pattern)

    def patterns(self) -> list[str]:
        """The subscriptions, in the order they were added."""
        return list(self._patterns)

    def match(self, topic: str) -> H | None:
        """The handler of the first pattern matching `topic`: exact levels before `+`, `+` before `#`.
        Topics starting with `$` (broker statistics) match no wildcard at the first level, as in MQTT."""
        return self._match(self._root, topic.split("/"), 0)

    def _match(self, node: _Node[H], levels: list[str], i: int) -> H | None:
        if i == len(levels):
            return node.handler if node.handler is not None else node.rest
        wild_ok = not (i == 0 and levels[0].startswith("$"))
        child = node.children.get(levels[i])
        if child is not None and (found := self._match(child, levels, i + 1)) is not None:
            return found
        plus = node.children.get("+")
        if wild_ok and plus is not None and (found := self._match(plus, levels, i + 1)) is not None:
            return found
        return node.rest if wild_ok else None
