"""A least-recently-used cache of PCM bounded in bytes, not entries.

    >>> cache = PcmCache(max_bytes=10)
    >>> cache.put("a", b"12345"); cache.put("b", b"67890"); cache.put("c", b"x")
    >>> cache.get("a") is None, cache.get("b"), cache.size
    (True, b'67890', 6)
    >>> cache.put("huge", bytes(11)); cache.get("huge") is None    # bigger than the whole cache
    True
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable


class PcmCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        pcm = self._items.get(key)
        if pcm is not None:
            self._items.move_to_end(key)
        return pcm

    def put(self, key: Hashable, pcm: bytes) -> None:
        if len(pcm) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._items[key] = pcm
        self.size += len(pcm)
        while self.size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)
