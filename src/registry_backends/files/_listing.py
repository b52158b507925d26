"""Sorted folder listings, kept while a folder provably has not changed.

`latest` on a model with 10,000 versions lists a folder of 10,000 documents; listing and
sorting it costs ~10 ms on a local disk, while reading the page it needs costs far less.
A store that can vouch for a folder (`folder_stamp`) lets the sorted listing be reused
until the folder changes.

Why a stamp is safe: the local store gives one only when the folder's last change is at
least `SETTLED_SECONDS` old, more than the coarsest timestamp granularity of the
filesystems we run on (FAT: 2 s; ext4, XFS, btrfs, APFS: a clock tick or finer). Any later
change therefore gets a strictly later modification time and a different stamp. A listing
is cached only when the stamp was the same before and after it was taken, and only when
every document sits directly in the folder (a chain of long names lives in sub-folders,
whose changes the folder's stamp would not see).
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from operator import itemgetter

from registry_backends.files._keys import documents_in

__all__ = ["Listings", "SortedFolder"]

#: Folders whose sorted listing is kept, least recently used dropped first.
MAX_FOLDERS = 64


class SortedFolder:
    """A folder's documents sorted by segment, with range lookups by bisection."""

    __slots__ = ("names", "segments")

    def __init__(self, found: list[tuple[str, str]]) -> None:
        found.sort(key=itemgetter(0))
        self.segments = [segment for segment, _ in found]
        self.names = [name for _, name in found]

    def select(
        self, after: str | None, before: str | None, starts_with: str | None, reverse: bool
    ) -> Iterator[tuple[str, str]]:
        """``(segment, name)`` with ``after < segment < before``, lazily, by segment order."""
        low = 0 if after is None else bisect.bisect_right(self.segments, after)
        high = len(self.segments) if before is None else bisect.bisect_left(self.segments, before)
        if starts_with:
            low = max(low, bisect.bisect_left(self.segments, starts_with))
        chosen = range(low, high)
        indices = reversed(chosen) if reverse else chosen
        for i in indices:
            segment = self.segments[i]
            if starts_with and not segment.startswith(starts_with):
                if segment > starts_with and not reverse:
                    return  # sorted: nothing further can start with it
                continue
            yield segment, self.names[i]


class Listings:
    """Sorted listings of folders, reused while the store's stamp of a folder holds."""

    def __init__(
        self,
        list_names: Callable[[str], list[str]],
        folder_stamp: Callable[[str], Hashable | None] | None,
    ) -> None:
        self._list_names = list_names
        self._stamp = folder_stamp
        self._kept: OrderedDict[str, tuple[Hashable, SortedFolder]] = OrderedDict()
        self._lock = threading.Lock()

    def folder(self, folder: str) -> SortedFolder:
        """The folder's documents, sorted; listed afresh unless provably unchanged."""
        stamp = None if self._stamp is None else self._stamp(folder)
        if stamp is not None:
            with self._lock:
                kept = self._kept.get(folder)
                if kept is not None and kept[0] == stamp:
                    self._kept.move_to_end(folder)
                    return kept[1]
        found = documents_in(self._list_names, folder)
        chained = any("/" in name for _, name in found)
        listing = SortedFolder(found)
        if stamp is not None and not chained and self._stamp and self._stamp(folder) == stamp:
            with self._lock:
                self._kept[folder] = (stamp, listing)
                self._kept.move_to_end(folder)
                while len(self._kept) > MAX_FOLDERS:
                    self._kept.popitem(last=False)
        return listing
