"""The sandboxed worker: reads one JSON request per line, answers one JSON line.

Started by sandbox.ImageWorker with a memory limit; killed and restarted on a timeout. It
never touches the locker: it only reads the file it is given and writes into a scratch folder.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

from PIL import Image

from docket.analyse._imaging import PictureCache, describe_picture

CACHE = PictureCache()


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
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    for line in sys.stdin:
        sys.stdout.write(json.dumps(handle(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
