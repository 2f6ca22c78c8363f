"""Copies of a locker, and recovery from them ("lots of copies keep stuff safe").

A copy (replica) is itself a locker folder: blobs in objects/, an SQLite catalogue, the
checkpoints.log, keys/signing.pub (the private key only when asked) and replica.json, so
`docket verify --locker COPY` checks it like any locker and any copy can be restored on a laptop.

- destination.py: where a copy goes (the interface), and the folder that implements it.
- bucket.py: a copy in an S3-compatible bucket with Object Lock (written once, locked).
- transfer.py: bytes moved durably, each blob proven against its name.
- snapshot.py: a consistent copy of the catalogue while the locker is in use.
- replicate.py: `docket replicate`, an incremental, verified copy.
- audit.py: `docket audit-copies`, copies compared with this locker and with each other.
- repair.py: `docket repair --from COPY`, missing or damaged blobs and a lost catalogue tail.
- restore.py: `docket restore COPY DIR`, a whole locker brought back into a new folder.
- holdings.py: what one locker or copy holds (its log, checkpoints, blobs), read without writing.
"""
