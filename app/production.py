"""Checks that refuse to serve in production where settings alone cannot tell.

Settings itself refuses the unsafe values (app/settings.py); these need the filesystem.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from app.errors import StartupError
from app.settings import Settings


def refuse_unsafe_production(settings: Settings) -> None:
    """Checks that need the filesystem; Settings itself refuses the unsafe values."""
    if settings.sqlite_path is not None:
        problem = _sqlite_write_problem(Path(settings.sqlite_path))
        if problem:
            raise StartupError(f"refusing to start in production: {problem}")


def _sqlite_write_problem(path: Path) -> str | None:
    """Why the gateway could not write this SQLite file (and its -wal/-shm beside it)."""
    if path.exists():
        if not path.is_file():
            return f"the SQLite database {path} is not a file"
        try:
            with path.open("r+b"):
                pass
        except OSError as error:
            return f"the SQLite database {path} is not writable ({error.strerror})"
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir():
        return f"the SQLite database's directory {directory} is not a directory"
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".gateway-write-check-"):
            pass
    except OSError as error:
        return f"cannot create files beside the SQLite database in {directory} ({error.strerror})"
    return None
