"""The shape of one verification signal, shared by every aid.

A finding is one of four words, so nothing reads as a verdict: "signal" (something a person
should look at), "no signal" (this check found nothing; it does not mean authentic), "not
checked" (the file lacks what the check needs) and "for review" (a picture to look at, with
no finding of its own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Finding = Literal["signal", "no signal", "not checked", "for review"]
FINDINGS: tuple[Finding, ...] = ("signal", "no signal", "not checked", "for review")


@dataclass(frozen=True)
class Signal:
    name: str
    finding: Finding
    summary: str
    explanation: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_dict(data: dict[str, Any]) -> Signal:
    finding: Finding = next((f for f in FINDINGS if f == data.get("finding")), "not checked")
    return Signal(
        str(data["name"]),
        finding,
        str(data.get("summary", "")),
        str(data.get("explanation", "")),
        dict(data.get("details") or {}),
    )
