"""The sample backend with one bug planted in each subclass: each bug lost or corrupted
data in a backend that passed the suite before its pins existed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from logstore import BlobWriter, LogRepository

from registry_core.protocol import Document


class ContentEtags(LogRepository):
    """The etag is a hash of the data: rewriting the same data keeps it."""

    def _new_etag(self, data: Mapping[str, Any] | None) -> str:
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class TempBesideTarget(LogRepository):
    """Uploads are written next to their target, where `list_blobs` sees them."""

    def temp_path(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")


class _EagerAbort(BlobWriter):
    def abort(self) -> None:
        super().abort()
        self._target.unlink(missing_ok=True)  # meant for the temp file; hits the blob


class AbortDeletesCommitted(LogRepository):
    """``abort()`` after ``commit()`` deletes the committed blob."""

    def open_blob_writer(self, name: str) -> BlobWriter:
        return _EagerAbort(self, name)


class TornTailBreaksReads(LogRepository):
    """Every line of the log is parsed, a killed writer's torn last one included."""

    def _complete_lines(self, chunk: bytes) -> bytes:
        return chunk


class CachedDocuments(LogRepository):
    """`get` hands out the index's own dict, so a caller's change alters stored state."""

    def _stored(self, data: Mapping[str, Any]) -> Any:
        return json.loads(json.dumps(data))

    def _document(self, stored: tuple[Any, str]) -> Document:
        return Document(stored[0], stored[1])


class RawOSErrors(LogRepository):
    """The file system's errors escape as they are, not as `BackendError`."""

    def storage_errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()
