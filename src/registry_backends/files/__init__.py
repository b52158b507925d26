"""The files backend: JSON documents and blobs in a folder (and, later, in S3 or GCS).

``open_files("./registry")`` or ``open_registry("file:///abs/registry")``; see
`FilesRepository` for the layout and `LocalStore` for the local disk's atomic writes.
"""

from registry_backends.files.local import LocalStore, open_files
from registry_backends.files.repository import FilesRepository

__all__ = ["FilesRepository", "LocalStore", "open_files"]
