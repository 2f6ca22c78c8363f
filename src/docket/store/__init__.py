"""Write-once, content-addressed blob stores."""

from docket.store.filesystem import BlobDigest, FilesystemStore, StoredBlob

__all__ = ["BlobDigest", "FilesystemStore", "StoredBlob"]
