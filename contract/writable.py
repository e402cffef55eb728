"""Whether a directory a command will write into can be written, asked before any work starts.

`os.access` cannot answer it: root passes every permission check, yet cannot create files
in /sys, /proc or on a read-only mount. Creating (and at once dropping) a nameless file in
the nearest existing directory is the question itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def dir_problem(path: str | os.PathLike) -> str | None:
    """Why files cannot be written under directory `path` (which may not exist yet), or None."""
    p = Path(path).absolute()
    existing = next(q for q in (p, *p.parents) if q.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return f"{existing} cannot be written ({exc.strerror or exc})"
    return None
