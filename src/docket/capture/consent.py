"""Cookie banners: before the page is photographed and printed, the capture clicks the first
visible consent button it recognises, so the screenshot shows the page rather than the banner.

A button is recognised by the selectors of common consent platforms (SELECTORS: OneTrust,
Cookiebot, Didomi, TrustArc, Usercentrics, Google's Funding Choices, Osano's Cookie Consent),
or by its accessible name being exactly one of the phrases in TEXTS (English, French, German,
Spanish, Italian, Dutch, Portuguese, Russian, Arabic, Ukrainian), looked for in the page and
in up to MAX_FRAMES of its frames (platforms often draw the banner in one). The click is the
capture acting on the page, so the capture's notes say what was clicked; the WARC keeps every
exchange before and after it, the banner included. A page with no such button is left alone.
"""

from __future__ import annotations

import contextlib
import re

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

MAX_FRAMES = 10
STEP_MS = 2000  # for each look and the click itself
SELECTORS = (
    "#onetrust-accept-btn-handler",  # OneTrust
    "#CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll",  # Cookiebot
    "#CybotCookiebotDialogBodyButtonAccept",
    "#didomi-notice-agree-button",  # Didomi
    "#truste-consent-button",  # TrustArc
    "button[data-testid='uc-accept-all-button']",  # Usercentrics
    "button.fc-cta-consent",  # Google Funding Choices
    "a.cc-allow, a.cc-dismiss",  # Osano's Cookie Consent
)
TEXTS = (
    "accept",
    "accept all",
    "accept all cookies",
    "accept cookies",
    "allow all",
    "allow all cookies",
    "allow cookies",
    "i accept",
    "i agree",
    "agree",
    "agree and continue",
    "tout accepter",
    "accepter",
    "accepter et fermer",
    "alle akzeptieren",
    "akzeptieren",
    "zustimmen",
    "aceptar",
    "aceptar todo",
    "aceptar todas",
    "accetta",
    "accetta tutto",
    "alles accepteren",
    "accepteren",
    "aceitar",
    "aceitar todos",
    "принять",
    "принять все",
    "прийняти",
    "قبول",
    "موافق",
)
_NAME = re.compile(
    r"^\s*(?:" + "|".join(re.escape(text) for text in TEXTS) + r")\s*[.!]?\s*$", re.IGNORECASE
)


def dismiss(page: Page) -> str | None:
    """Click the first visible consent button found; its label, or None when there is none."""
    # A frame the browser refused to load (file:, chrome:) has no document, and a search of
    # it (Locator.count takes no timeout) would wait for one for ever: only frames that hold
    # a web page or an empty one are searched.
    frames = [frame for frame in page.frames if frame.url.startswith(("http:", "https:", "about:"))]
    for frame in frames[:MAX_FRAMES]:
        for found in (
            frame.locator(", ".join(SELECTORS)),
            frame.get_by_role("button", name=_NAME),
        ):
            button = found.filter(visible=True).first
            try:
                if button.count() == 0:
                    continue
                label = button.inner_text(timeout=STEP_MS).strip()
                button.click(timeout=STEP_MS)
            except PlaywrightError:
                continue  # gone, covered or detached meanwhile: look on
            with contextlib.suppress(PlaywrightTimeout, PlaywrightError):
                page.wait_for_load_state("networkidle", timeout=STEP_MS)
            return " ".join(label.split())[:80] or "(a button without text)"
    return None
