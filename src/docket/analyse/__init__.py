"""Analysis steps: each reads an original and records a result (and later derivatives)."""
