#!/usr/bin/env python3
"""Writes reference_layout.safetensors: every dtype, scalars, empty tensors,
names and metadata that need each kind of JSON escape, laid out as the
reference writer (huggingface/safetensors, tensor.rs `prepare`) does.

The point is an encoder independent of the Go code: the JSON comes from
Python's json module with ensure_ascii=False and compact separators, which
escapes exactly as serde_json does (\\" \\\\ \\n \\r \\t \\b \\f short, other
control characters as \\u00xx in lowercase hex, DEL, '/', U+2028 and
non-ASCII raw). The order is the reference writer's list, typed in here by hand: dtype
(U64 first ... BOOL last), then name; Python compares str by code point,
which for UTF-8 is the same as bytewise. Metadata keys are sorted, as this
project writes them. The header is padded with spaces to a multiple of 8.

Run from this directory: python3 gen_reference_layout.py
Needs nothing but the Python 3 standard library.
"""

import hashlib
import json
import struct

ORDER = ["U64", "I64", "F64", "C64", "F32", "U32", "I32", "BF16", "F16", "U16",
         "I16", "F8_E5M2FNUZ", "F8_E4M3FNUZ", "F8_E8M0", "F8_E4M3", "F8_E5M2",
         "I8", "U8", "F6_E3M2", "F6_E2M3", "F4", "BOOL"]
BITS = {"U64": 64, "I64": 64, "F64": 64, "C64": 64, "F32": 32, "U32": 32, "I32": 32,
        "BF16": 16, "F16": 16, "U16": 16, "I16": 16, "F8_E5M2FNUZ": 8, "F8_E4M3FNUZ": 8,
        "F8_E8M0": 8, "F8_E4M3": 8, "F8_E5M2": 8, "I8": 8, "U8": 8, "F6_E3M2": 6,
        "F6_E2M3": 6, "F4": 4, "BOOL": 8}

# One tensor per dtype with a shape whose bits fill whole bytes, plus
# scalars, empty tensors and names that need escapes.
tensors = {}
for i, dt in enumerate(ORDER):
    shape = {"F4": [2, 3], "F6_E3M2": [4], "F6_E2M3": [2, 4]}.get(dt, [2, 3])
    tensors["t_" + dt.lower()] = (dt, shape)
tensors["scalar_f64"] = ("F64", [])
tensors["scalar_bool"] = ("BOOL", [])
tensors["empty_f32"] = ("F32", [0])
tensors["empty_u8_2x0x3"] = ("U8", [2, 0, 3])
tensors[""] = ("I8", [1])  # the format allows an empty name
tensors['quote"backslash\\slash/'] = ("F32", [1])
tensors["nl\ncr\rtab\tbs\bff\f"] = ("F32", [1])
tensors["ctl\x00\x01\x1f_del\x7f"] = ("F32", [1])
tensors["ls\u2028ps\u2029_e\u0301_\u00e9_\u4e2d_\U0001f600"] = ("F32", [1])
tensors["Zupper"] = ("F32", [1])

metadata = {
    "format": "pt",
    "esc\"\\/\n\r\t\b\f\x00\x1f\x7f": "v\"\\/\n\r\t\b\f\x00\x1f\x7f",
    "unicode_\u00e9\u2028\U0001f600": "\u4e2d\u6587",
    "": "",
}


def nbytes(dt, shape):
    n = 1
    for d in shape:
        n *= d
    bits = n * BITS[dt]
    assert bits % 8 == 0, (dt, shape)
    return bits // 8


names = sorted(tensors, key=lambda k: (ORDER.index(tensors[k][0]), k.encode("utf-8")))
header = {"__metadata__": {k: metadata[k] for k in sorted(metadata, key=lambda k: k.encode("utf-8"))}}
data = bytearray()
for k, name in enumerate(names):
    dt, shape = tensors[name]
    n = nbytes(dt, shape)
    begin = len(data)
    # Deterministic bytes that differ per tensor and per position.
    data += bytes((begin + 7 * j + 13 * k) % 251 for j in range(n))
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [begin, len(data)]}

text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
text += b" " * ((8 - len(text) % 8) % 8)
out = struct.pack("<Q", len(text)) + text + bytes(data)
with open("reference_layout.safetensors", "wb") as f:
    f.write(out)
print(len(out), hashlib.sha256(out).hexdigest())
