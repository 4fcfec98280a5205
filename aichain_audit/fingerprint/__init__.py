"""Fingerprinting: one module per artifact kind, sharing the parallel hashing engine.

- `hashing`: file digests, in parallel across files and across shards of one file;
- `paths`: how files become manifest names, and the symlink/special/unreadable policy;
- `config`: JSON, YAML and TOML training configs, one value per JSON pointer;
- `model`: models, one package per format (`model/onnx`: file digests and the
  `onnx-semantic/v1` fingerprint) behind one small interface and a registry.
Fingerprinting knows nothing of chains or MLflow.
"""
