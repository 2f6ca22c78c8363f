"""The vault: a locker whose blobs, catalogue and signing key are encrypted at rest.

A random 32-byte locker key (the master key, `VaultKey`) is wrapped by key slots
(passphrases, a recovery key, SLIP-39 shares); every other key is derived from it with
HKDF-SHA256, one per purpose, so no two uses share a key. The format and what an adversary
holding the disk learns are written down in docs/explanation/vault.md.
"""
