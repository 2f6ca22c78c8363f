"""What `verify` reports: named checks that each say ok, FAILED or not checked, problems with
their subject, and notes that are not problems. Verifiers of other things report the same way."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass
class Check:
    name: str
    passed: bool | None = None
    detail: str = ""

    @property
    def label(self) -> str:
        return {True: "ok", False: "FAILED", None: "not checked"}[self.passed]


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(check.passed is not False for check in self.checks)
