"""Docket: an evidence locker that preserves originals and proves their custody."""

__version__ = "0.1.0"
