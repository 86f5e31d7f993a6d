"""Persistent state: documents (tinydb, crash-safe) and history (SQLite WAL)."""

from controlplane.store.documents import Documents, SafeStorage
from controlplane.store.history import History

__all__ = ["Documents", "History", "SafeStorage"]
