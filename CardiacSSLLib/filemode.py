"""Permissions of the files the library writes: what the user's umask says, like ``open()``.

Writers go through ``tempfile.mkstemp`` (atomic rename into place), which creates files
0600; results and models are shared on lab servers, so they are set to ``0666 & ~umask``.
"""

from __future__ import annotations

import os


def umask_mode() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def set_umask_mode(path: str | os.PathLike) -> None:
    os.chmod(path, umask_mode())
