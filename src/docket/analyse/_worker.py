"""The sandboxed worker: reads one JSON request per line, answers one JSON line.

Started by sandbox.ImageWorker with a memory limit; killed and restarted on a timeout. It
never touches the locker: it only reads the file it is given and writes into a scratch folder.
"""

from __future__ import annotations

import ctypes
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from PIL import Image

from docket.analyse._imaging import PictureCache, describe_picture
from docket.analyse.heif import open_heif_in_pillow

CACHE = PictureCache()

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
KEPT_BLOCK_MOST = 32 << 20  # glibc's own ceiling for M_MMAP_THRESHOLD on 64-bit
KEPT_FREE_MOST = 128 << 20


def keep_freed_memory() -> None:
    """Let malloc keep the memory a picture's work frees, for the next picture.

    Every picture allocates the same few buffers of hundreds of kilobytes (the decoded
    picture, PDQ's float planes, numpy's arrays). By default glibc maps each one fresh and
    unmaps it when freed, so the kernel faults in and zeroes every page again for every
    buffer: PDQ and the band trimming took twice their CPU in this worker (18 ms a photo
    against 10). Blocks up to 32 MiB now come from the heap, and up to 128 MiB of freed heap
    is kept (the worker is limited to MEMORY_LIMIT in all). Not glibc: left as it is.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, KEPT_BLOCK_MOST)
    mallopt(_M_TRIM_THRESHOLD, KEPT_FREE_MOST)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    out = request.get("out")
    try:
        if task := request.get("task"):  # the verification aids' tasks (docket.aids)
            from docket.aids import _picture

            answer = _picture.handle(str(task), request, CACHE)
        else:
            picture = CACHE.get(Path(request["path"]))
            answer = describe_picture(
                picture, Path(out) if out else None, bool(request.get("hashes"))
            )
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError) as exc:
        return {"ok": False, "error": f"cannot decode the picture ({type(exc).__name__}: {exc})"}
    return {"ok": True, **answer}


def main() -> None:
    keep_freed_memory()
    open_heif_in_pillow()
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    for line in sys.stdin:
        sys.stdout.write(json.dumps(handle(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
