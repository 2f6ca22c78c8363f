"""How long work reports progress: callbacks the library calls, displays the CLI supplies.
The library itself never prints."""

from __future__ import annotations


class Progress:
    """Does nothing; a display overrides it. `amount` is bytes for ingest, items otherwise."""

    def start(self, count: int, amount: int) -> None: ...

    def advance(self, count: int, amount: int) -> None: ...

    def finish(self) -> None: ...
