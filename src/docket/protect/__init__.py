"""Protecting sources and reviewers: redaction, metadata stripping, flags and logged reveals."""
