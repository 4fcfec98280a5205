"""The tables of `gguf-semantic/v1` (docs/SPEC.md section 14): value types, GGML tensor types,
the keys that only describe storage, and the bounds a file is read within.

Consensus-critical: a value type's name and a GGML type's number, block and size enter the
digests; they never change within the scheme. A GGML type may be added (files that hold it
were refused before, so no digest changes); none is ever removed or altered.
"""

from __future__ import annotations

SCHEME = "gguf-semantic/v1"
MAGIC = b"GGUF"
VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
# The header of a file (magic to the end of the tensor infos) is read and held whole: real
# models have a few MiB (a 256k-token vocabulary with its merges is about 10 MiB).
HEADER_LIMIT = 64 * 1024 * 1024
MAX_KEY_BYTES = 65535  # the GGUF specification's own bound on a key
MAX_TENSOR_NAME_BYTES = 512  # ggml itself refuses 64 bytes or more (GGML_MAX_NAME)
MAX_INT64 = (1 << 63) - 1  # ggml holds dimensions and element counts as int64
MODEL_LIMIT = 1 << 40  # 1 TiB per file: any GGUF file deployed today

# --- value types: code -> (name, bytes of one value; 0 for STRING and ARRAY) ----------------
STRING = 8
ARRAY = 9
VALUE_TYPES: dict[int, tuple[str, int]] = {
    0: ("UINT8", 1),
    1: ("INT8", 1),
    2: ("UINT16", 2),
    3: ("INT16", 2),
    4: ("UINT32", 4),
    5: ("INT32", 4),
    6: ("FLOAT32", 4),
    7: ("BOOL", 1),
    STRING: ("STRING", 0),
    ARRAY: ("ARRAY", 0),
    10: ("UINT64", 8),
    11: ("INT64", 8),
    12: ("FLOAT64", 8),
}
UINT16, INT32, UINT32 = 2, 5, 4
SIGNED = frozenset({1, 3, 5, 11})
INTEGERS = frozenset({0, 1, 2, 3, 4, 5, 10, 11})

# --- GGML tensor types: code -> (name, elements per block, bytes per block) ----------------
# As ggml defines them (ggml.h, gguf-py's GGML_QUANT_SIZES); codes not listed (4, 5, 31 to 33,
# 36 to 38: removed from ggml) are refused.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

# --- keys --------------------------------------------------------------------------------
ARCHITECTURE = "general.architecture"
ALIGNMENT = "general.alignment"
SPLIT_NO = "split.no"
SPLIT_COUNT = "split.count"
SPLIT_TENSORS = "split.tensors.count"
# Keys that only say how the model is stored: in no document (re-splitting or re-aligning a
# model keeps its semantics); each is checked instead (type and value).
STORAGE_KEYS = frozenset({ALIGNMENT, SPLIT_NO, SPLIT_COUNT, SPLIT_TENSORS})
SPLIT_KEYS: dict[str, int] = {SPLIT_NO: UINT16, SPLIT_COUNT: UINT16, SPLIT_TENSORS: INT32}
# Prefixes of graph keys besides `ARCH.` (ARCH the value of general.architecture).
GRAPH_PREFIXES = ("tokenizer.", "adapter.")

# llama.cpp's `general.file_type` (LlamaFileType), for reports only.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}  # fmt: skip
