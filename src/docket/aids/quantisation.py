"""JPEG quantisation tables: the estimated quality and whether they are libjpeg's own.

An encoder writes its quantisation tables into the file. The Independent JPEG Group's
libjpeg (and libjpeg-turbo, hence Pillow, GIMP's default, ImageMagick and many phone and web
encoders) scales the two example tables of ITU-T T.81 Annex K by one quality number, so a
file whose tables equal those scaled tables was, at its last save, written by such an encoder
at that quality. Cameras and some editors write tables of their own; those are reported as
"not libjpeg's", with the quality whose libjpeg tables are nearest. The only known tables are
the ones computed here from Annex K with libjpeg's jcparam.c scaling; no other vendor's tables
are claimed, since none could be checked against a published source here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from docket.aids.signals import Signal

NAME = "jpeg-quantisation"

# ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), natural (row) order.
ANNEX_K_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
ANNEX_K_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
)  # fmt: skip

EXPLANATION = (
    "The quantisation tables say how the file was last encoded. Tables equal to libjpeg's "
    "standard tables mean the last save was by a libjpeg-based encoder (editors, converters, "
    "many apps and web services), which is unusual for a file straight from a camera; other "
    "tables are a camera's or an editor's own. The tables say nothing about earlier saves, "
    "and a forger can choose any tables."
)


@cache
def libjpeg_table(base: tuple[int, ...], quality: int) -> tuple[int, ...]:
    """libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (force_baseline)."""
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    return tuple(min(255, max(1, (value * scale + 50) // 100)) for value in base)


def estimate_quality(tables: Mapping[int, Sequence[int]]) -> tuple[int, bool]:
    """The libjpeg quality whose tables are nearest to these, and whether they are equal."""
    bases = (ANNEX_K_LUMINANCE, ANNEX_K_CHROMINANCE)
    best, best_distance = 0, -1
    for quality in range(1, 101):
        distance = sum(
            sum(
                abs(a - b)
                for a, b in zip(
                    tables[index], libjpeg_table(bases[min(index, 1)], quality), strict=True
                )
            )
            for index in sorted(tables)[:2]
        )
        if best_distance < 0 or distance < best_distance:
            best, best_distance = quality, distance
    return best, best_distance == 0


def signal(tables: Mapping[int, Sequence[int]]) -> Signal:
    if not tables or any(len(t) != 64 for t in tables.values()):
        return Signal(NAME, "not checked", "not a JPEG with quantisation tables", EXPLANATION)
    quality, exact = estimate_quality(tables)
    details = {
        "estimated_quality": quality,
        "libjpeg_standard": exact,
        "tables": {str(k): list(v) for k, v in sorted(tables.items())},
    }
    if exact:
        summary = f"libjpeg's standard tables at quality {quality} (a libjpeg-based encoder)"
    else:
        summary = f"a camera's or editor's own tables (nearest libjpeg quality: {quality})"
    return Signal(NAME, "for review", summary, EXPLANATION, details)
