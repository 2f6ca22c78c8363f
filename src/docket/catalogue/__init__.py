"""The catalogue: items, acquisitions, cases, results, events and checkpoints in SQL."""
