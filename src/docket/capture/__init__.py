"""Capture from the web: a page and its media loaded in a real browser, archived as WACZ and
recorded as evidence with one custody event per capture (see run.py for the order of stages).

guard.py decides which addresses may be reached; browser.py drives Chromium; warc.py writes the
WARC records; wacz.py packages them; media.py takes video with yt-dlp; run.py records it all.
"""
