"""File names kept exactly as bytes, shown safely (no raw newlines or control characters), and
written safely as the name of a file in a package (any script kept, nothing a path, a BagIt
manifest or another system would read differently)."""

from __future__ import annotations

import functools
import re
import unicodedata

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {127: "\\x7f"}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


# Unicode's explicit direction controls (embeddings, overrides, isolates and their ends). Text
# after one is laid out in the direction it sets, so "invoice<U+202E>gpj.exe" reads as
# "invoiceexe.jpg": wherever text people wrote is shown, they are shown, never obeyed.
DIRECTION_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SHOWN_CONTROLS = {ord(c): f"\u27e8U+{ord(c):04X}\u27e9" for c in DIRECTION_CONTROLS}
_A_CONTROL = re.compile(f"[{DIRECTION_CONTROLS}]")


def show_direction_controls(text: str) -> str:
    """The text with each direction control replaced by a visible mark, ⟨U+202E⟩."""
    return _A_CONTROL.sub(lambda found: _SHOWN_CONTROLS[ord(found[0])], text)


# C1 controls (U+0080-U+009F: U+009B is a terminal's CSI), the line and paragraph separators,
# and the direction controls.
_TERMINAL = _CONTROL | {i: f"\\u{i:04x}" for i in (*range(0x80, 0xA0), 0x2028, 0x2029)}
_TERMINAL |= _SHOWN_CONTROLS


def one_line(text: str) -> str:
    """Text someone wrote (a comment, a tag, a title) as one printable line for a terminal: a
    newline cannot forge a line of output, nor an escape sequence drive the terminal."""
    return text.translate(_TERMINAL)


def display_name(raw: bytes) -> str:
    """A one-line, printable form of a name; bytes that are not UTF-8 appear as \\xNN."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return text.translate(_CONTROL)


# Unsafe in a path, a BagIt manifest line or on Windows: separators, reserved punctuation, `%`
# (RFC 8493 percent-encodes in manifests), and marks that reorder or hide text (bidi controls).
_UNSAFE = set('/\\:*?"<>|%') | set(DIRECTION_CONTROLS)
_UNSAFE |= {"\u200e", "\u200f", "\u061c", "\ufeff"}
_DROPPED = {"Cc", "Cs", "Zl", "Zp"}  # controls, lone surrogates, line and paragraph separators
_ENDS = re.compile(r"^[\s.]+|[\s.]+$")
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(10)}
MAX_NAME_BYTES = 150


def file_name(display: str, fallback: str) -> str:
    """The last part of a displayed path as a file name in Unicode NFC: unsafe characters become
    `_`, controls are dropped, leading dots and surrounding spaces go, a Windows device name
    gets a `_` before it, and it is cut to MAX_NAME_BYTES of UTF-8 keeping its extension."""
    name = unicodedata.normalize("NFC", display.rsplit("/", 1)[-1])
    name = "".join(
        "_" if c in _UNSAFE else c for c in name if unicodedata.category(c) not in _DROPPED
    )
    name = _ENDS.sub("", name)
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode()) > 16:
        stem, extension = name, ""
    else:
        extension = f".{extension}"
    budget = MAX_NAME_BYTES - len(extension.encode())
    if len(stem.encode()) > budget:
        cut = stem.encode()[:budget].decode("utf-8", "ignore")
        stem = unicodedata.normalize("NFC", _ENDS.sub("", cut))
    if not stem:
        return fallback
    if stem.split(".")[0].upper() in _RESERVED:
        stem = f"_{stem}"
    return stem + extension


@functools.lru_cache(maxsize=4096)
def _drawn_as_latin(char: str) -> str:
    """The Latin letter or digit a character is drawn like (Unicode's confusables, UTS #39:
    U+0430, the Cyrillic a; U+0422, the Cyrillic capital T), else the character itself."""
    from confusable_homoglyphs import confusables  # its tables load in a tenth of a second

    found = confusables.is_confusable(char, greedy=True, preferred_aliases=["latin"])
    for glyph in found[0]["homoglyphs"] if found else []:
        if glyph["c"].isascii():
            return str(glyph["c"])
    return char


def _as_latin(text: str) -> str:
    return text if text.isascii() else "".join(map(_drawn_as_latin, text))


def looks_like(name: str, other: str) -> bool:
    """Whether `name` reads as `other` to a person: the same once compatibility forms are
    folded (NFKC: a fullwidth letter), the invisible format characters (category Cf:
    zero-width spaces and joiners, which file_name keeps, as Kurdish and Persian names need
    them) are taken out, a letter of another script drawn like a Latin one is read as that
    one, and case is ignored. Look-alikes are read before case is folded (a capital Cyrillic
    T folds to a small one, which is not drawn like a Latin t) and after."""

    def seen(text: str) -> str:
        folded = unicodedata.normalize("NFKC", text)
        shown = "".join(c for c in folded if unicodedata.category(c) != "Cf")
        return _as_latin(_as_latin(shown).casefold())

    return seen(name) == seen(other)
