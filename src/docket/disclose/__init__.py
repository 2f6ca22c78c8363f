"""Evidence leaving the locker: BagIt packages with custody proofs, the offline checker,
importing packages, and RFC 3161 timestamps of checkpoints."""
