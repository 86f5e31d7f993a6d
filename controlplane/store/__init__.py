"""Persistent state: documents (tinydb, crash-safe) and history (SQLite WAL)."""

from controlplane.store.documents import Documents, SafeStorage, storage_full
from controlplane.store.history import History

__all__ = ["Documents", "History", "SafeStorage", "storage_full"]
