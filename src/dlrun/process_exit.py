"""Exit without Python's last garbage collection, in the processes dlrun owns (the CLI, a sweep's workers).

That collection walks every object torch, Lightning and Hydra made on import, about a second for the
CLI and more for a worker that ran jobs, and it finds nothing to do: every file dlrun writes is closed
before then. Frozen, those objects are left to the OS, as at any process exit.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def skip_final_collection() -> None:
    """Freeze the heap once every other exit handler has run (registered first, it runs last)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
