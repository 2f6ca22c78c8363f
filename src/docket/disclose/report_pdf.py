"""The package report as PDF (fpdf2), for readers who print or file it.

Text uses DejaVu Sans when the system has it (Debian's fonts-dejavu-core, installed by the
set-up), so names in any script print; otherwise a core font with characters it lacks shown
as '?'. Previews are the blurred ones.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fpdf import FPDF

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


class _Report(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.set_auto_page_break(auto=True, margin=15)
        if DEJAVU.is_file():
            self.add_font("body", "", str(DEJAVU))
            self.unicode = True
        else:
            self.unicode = False
        self.add_page()

    def text_line(self, text: str, size: int = 9, height: float = 5) -> None:
        self.set_font("body" if self.unicode else "helvetica", size=size)
        if not self.unicode:
            text = text.encode("latin-1", errors="replace").decode("latin-1")
        self.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def render_pdf(
    package: dict[str, Any], items: list[dict[str, Any]], previews: dict[str, bytes]
) -> bytes:
    pdf = _Report()
    pdf.text_line(f"Evidence package ({package['profile']} profile)", size=16, height=9)
    pdf.text_line(
        f"From locker {package['origin']}, exported {package['exported_at']} for "
        f"{package['recipient'] or 'an unnamed recipient'}. {len(items)} item(s)."
    )
    pdf.text_line(
        "Verify it offline with: docket-check PACKAGE (no locker, no network). The "
        f"checkpoint is signed with Ed25519 key {package['public_key']}."
    )
    for item in items:
        meta = item["metadata"]
        pdf.ln(4)
        pdf.text_line(f"Item {item['item']}", size=12, height=7)
        preview = previews.get(item["item"])
        if preview is not None:
            pdf.image(io.BytesIO(preview), w=50)
        pdf.text_line(f"File in package: {item['file']}")
        pdf.text_line(f"SHA-256 of that file: {meta['file_sha256']}")
        if meta.get("sha512"):
            pdf.text_line(f"SHA-512: {meta['sha512']}")
        pdf.text_line(f"Media type: {meta.get('media_type', '')}  Size: {meta.get('size', '')}")
        for acq in meta.get("acquisitions", []):
            pdf.text_line(
                f"Acquired {acq['acquired_at']} by {acq['collector']} from "
                f"{acq['source'] or 'an unrecorded source'} ({acq['method']})"
            )
        for event in item["events"]:
            pdf.text_line(
                f"  event {event['seq']}  {event['time']}  {event['actor']}  {event['action']}",
                size=8,
                height=4,
            )
    return bytes(pdf.output())
