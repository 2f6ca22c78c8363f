"""The versions of the Python packages a step's result names as its tools.

Read once per process: importlib.metadata parses the package's METADATA file on every call
(1-3 ms each, several per item, on the thread that also records results), and a process
keeps running the code it imported whatever is installed after it started.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version


@cache
def package_version(name: str) -> str:
    return version(name)
