"""The web app: pages and a JSON API over the same Python API as the CLI."""

DEFAULT_MAX_UPLOAD = 4 << 30  # bytes; `serve --max-upload`, $DOCKET_MAX_UPLOAD_BYTES
# Requests a serving process works on at once (`serve --threads`): at a million items, 20
# clients and two processes on two cores, 2 answered 8-15% more requests than 4, with a
# lower p90 (bench/web.py); a third thread only adds contention for the interpreter.
DEFAULT_THREADS = 2
