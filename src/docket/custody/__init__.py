"""The custody log: an RFC 6962 / RFC 9162 Merkle tree of events, with signed checkpoints."""
