"""The garbage collector in a serving process: what the process made while starting is moved
out of its reach.

The app, its templates, SQLAlchemy's compiled statements and the imported modules are some
hundreds of thousands of objects that live as long as the process. Every full collection
walked them all again while both request threads waited on the interpreter, and a request
that builds hundreds of rows sets off collections often: at a million items, with 20 clients,
the timeline's p95 was 113-159 ms without this and 80-92 ms with it (wrk driven as
bench/web.py drives it, six alternating runs), and it answered as many requests or up to 8%
more. Objects made later, while serving, are collected as before.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what starting left behind, then freeze every object that remains (gc.freeze:
    kept, never examined again), so later collections look only at what requests make."""
    gc.collect()
    gc.freeze()
