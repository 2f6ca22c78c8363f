"""The web app: pages and a JSON API over the same Python API as the CLI."""
