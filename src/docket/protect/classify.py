"""The classifier hook: a deployment plugs in a model that proposes a flag for each item.

Set DOCKET_CLASSIFIER=package.module:function, where function(path, media_type) returns
"graphic", "sensitive", "clear" or None. It is loaded only when configured (never at import),
runs as the `classify` analysis step, and its proposal is recorded like any result. A flag set
by hand always wins over the classifier's.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from docket.analyse.steps import StepOutput, Tools
from docket.errors import DocketError

Classifier = Callable[[Path, str], str | None]
ENVIRONMENT = "DOCKET_CLASSIFIER"


def configured() -> str | None:
    return os.environ.get(ENVIRONMENT) or None


def load(spec: str) -> Classifier:
    module_name, _, function = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DocketError(f"{ENVIRONMENT}={spec}: cannot load the classifier ({exc})") from exc
    if not callable(found):
        raise DocketError(f"{ENVIRONMENT}={spec}: not a function")
    classifier: Classifier = found
    return classifier


class ClassifyStep:
    name = "classify"

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.version = f"1+{spec}"
        self._classify = load(spec)

    def applies_to(self, media_type: str) -> bool:
        return media_type.startswith(("image/", "video/"))

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        proposal = self._classify(blob, media_type)
        if proposal not in (None, "graphic", "sensitive", "clear"):
            raise DocketError(f"classifier {self.spec} answered {proposal!r}, not a flag")
        return StepOutput({"flag": proposal, "classifier": self.spec})
