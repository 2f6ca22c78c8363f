"""Verification aids: signals a person weighs beside an item, never a verdict.

Each module computes one signal (JPEG quantisation, double compression, error levels, the EXIF
thumbnail, editing software, metadata consistency, the sun, nearby places, content credentials)
and says what it can and cannot show. A clean file gives "no signal", never "authentic".
Picture decoding runs only in the sandboxed analysis worker (see _picture.py); steps.py holds
the analysis steps that record the signals like any other analysis, with tools and versions.
"""
