"""The web app: pages and a JSON API over the same Python API as the CLI."""

DEFAULT_MAX_UPLOAD = 4 << 30  # bytes; `serve --max-upload`, $DOCKET_MAX_UPLOAD_BYTES
DEFAULT_THREADS = 4  # requests a serving process works on at once; `serve --threads`
