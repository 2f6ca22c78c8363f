"""Verification aids: signals a person weighs beside an item, never a verdict.

Each module computes one signal (JPEG quantisation, double compression, error levels, the EXIF
thumbnail, editing software, metadata consistency, the sun, nearby places, content credentials,
ProofMode proofs and their media, a video's container and encoders) and says what it can and
cannot show. A clean file gives "no signal", never "authentic". Picture decoding runs only in
the sandboxed analysis worker (see _picture.py), ffprobe, C2PA and OpenPGP in one-shot
sandboxed workers; steps.py holds the analysis steps that record the signals like any other
analysis, with tools and versions. Beside them: shadow.py (the sun implied by a shadow marked
on a picture) and capture_parts.py (a web capture's parts shown together).
"""
