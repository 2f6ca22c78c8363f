"""One-shot sandboxed worker: reads a file's C2PA manifest store with c2pa-python.

Started by credentials.read through sandbox.run_worker (memory limit, deadline, scratch
TMPDIR): the manifest parser is attack surface like any media parser. Reads a JSON request on
stdin, prints one JSON line: the reader's report and validation state, or the reason it failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def handle(request: dict[str, Any]) -> dict[str, Any]:
    import c2pa

    anchors = request.get("trust_anchors")
    settings: dict[str, Any] = {"verify": {"verify_trust": bool(anchors)}}
    if anchors:
        settings["trust"] = {"trust_anchors": Path(anchors).read_text()}
    context = c2pa.Context(c2pa.Settings.from_dict(settings))
    path = Path(request["path"])
    try:
        with path.open("rb") as stream:
            reader = c2pa.Reader(str(request["media_type"]), stream, context=context)
            report = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.ManifestNotFound:
        return {"ok": True, "found": False}
    except c2pa.C2paError as exc:
        return {"ok": False, "error": f"the C2PA manifest cannot be read ({exc})"}
    return {"ok": True, "found": True, "state": state, "report": report}


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        answer = handle(request)
    except (OSError, ValueError) as exc:
        answer = {"ok": False, "error": f"the C2PA manifest cannot be read ({exc})"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
