"""File names kept exactly as bytes, and shown safely (no raw newlines or control characters)."""

from __future__ import annotations

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {127: "\\x7f"}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def display_name(raw: bytes) -> str:
    """A one-line, printable form of a name; bytes that are not UTF-8 appear as \\xNN."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return text.translate(_CONTROL)
