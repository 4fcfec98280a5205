"""aichain-audit: tamper-evident AI model lineage.

Fingerprint a model, its datasets and its training config into one Merkle root
(RFC 9162 hashing over SHA-256), anchor that root on an EVM chain, verify later.
"""

__version__ = "0.1.0"
