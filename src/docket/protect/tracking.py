"""Faces carried between neighbouring video frames, so a face the detector misses in one frame
(turned away, blurred by motion, a weak score) is still covered where it was a frame ago or
will be a frame later.

A box in a neighbouring frame that overlaps no box of this frame is carried here: if it links
to an overlapping box on the other side, their hull (which holds every box on the straight
path between the two); otherwise the box itself, grown by CARRY_GROWTH of its size on each side
for the motion one frame may bring. A frame missing a face covers it from either side, so a run
of up to two missed frames stays covered.
"""

from __future__ import annotations

from collections.abc import Sequence

from docket.protect.faces import Box

CARRY_GROWTH = 0.1


def overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def hull(a: Box, b: Box) -> Box:
    left, top = min(a.x, b.x), min(a.y, b.y)
    right, bottom = max(a.x + a.w, b.x + b.w), max(a.y + a.h, b.y + b.h)
    return Box(left, top, right - left, bottom - top)


def grown(box: Box, width: int, height: int) -> Box:
    dx, dy = round(box.w * CARRY_GROWTH), round(box.h * CARRY_GROWTH)
    left, top = max(0, box.x - dx), max(0, box.y - dy)
    right, bottom = min(width, box.x + box.w + dx), min(height, box.y + box.h + dy)
    return Box(left, top, right - left, bottom - top)


def covered(
    before: Sequence[Box],
    found: Sequence[Box],
    after: Sequence[Box],
    width: int,
    height: int,
) -> list[Box]:
    """The boxes to cover in a frame of `width` x `height`: those `found` in it, and those of
    the frames `before` and `after` it that no found box overlaps."""
    boxes = list(found)
    missed_after = [b for b in after if not any(overlaps(b, f) for f in found)]
    linked: set[int] = set()
    for box in before:
        if any(overlaps(box, f) for f in found):
            continue
        partners = [i for i, b in enumerate(missed_after) if overlaps(box, b)]
        linked.update(partners)
        if partners:
            boxes += [hull(box, missed_after[i]) for i in partners]
        else:
            boxes.append(grown(box, width, height))
    boxes += [grown(b, width, height) for i, b in enumerate(missed_after) if i not in linked]
    return boxes
