"""Extension points: typed registries that apps fill at start-up (their AppConfig.ready()).
A key may be registered once; registering the same key again with the same thing is harmless
(ready() can run twice in tests), with another thing it is an error. Pure: no Django."""

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._items: dict[str, T] = {}

    def register(self, key: str, item: T) -> T:
        if key in self._items and self._items[key] is not item:
            raise ValueError(f"{self.name}: {key!r} is already registered")
        self._items[key] = item
        return item

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._items.items()))

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)


# Why a workload should be left alone now (an open incident, an active fix): each function
# takes a cluster and returns {(namespace, workload): reason}. Costs reads them so its plan
# never works against healing; healing registers its open incidents, governance its actions.
WorkloadHolds = Callable[[object], dict[tuple[str, str], str]]
WORKLOAD_HOLDS: Registry[WorkloadHolds] = Registry("workload holds")
