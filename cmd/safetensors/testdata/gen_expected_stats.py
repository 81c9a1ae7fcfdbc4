#!/usr/bin/python3
"""Writes stats_expected.json: the statistics that `safetensors stats` must
print for each valid real file of the team's corpus, computed independently
with NumPy from a hand-written reading of the files (8-byte little-endian
header length, JSON header, raw little-endian data; no safetensors package,
no code of ours).

Per tensor, over the values as float64 (C64 as its real and imaginary parts,
BOOL as 0/1, BF16 widened by hand to float32): the count of values, of NaN,
+Inf and -Inf; over the finite values: min, max, mean, population std
(numpy.std), and numpy.histogram(finite, bins=24, range=(min, max)).

Debian's NumPy: apt-get install python3-numpy. Run from cmd/safetensors:
    /usr/bin/python3 testdata/gen_expected_stats.py ../../../shared/testdata/real
"""
import json, os, struct, sys

import numpy as np

BINS = 24
NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "U64": "<u8",
         "I32": "<i4", "U32": "<u4", "I16": "<i2", "U16": "<u2", "I8": "i1",
         "U8": "u1", "C64": "<f4"}


def values(dtype, raw):
    if dtype == "BF16":
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return u.view(np.float32).astype(np.float64)
    if dtype == "BOOL":
        return (np.frombuffer(raw, dtype="u1") != 0).astype(np.float64)
    return np.frombuffer(raw, dtype=NUMPY[dtype]).astype(np.float64)


def stats(dtype, raw):
    v = values(dtype, raw)
    fin = v[np.isfinite(v)]
    out = {"count": int(v.size), "nan": int(np.isnan(v).sum()),
           "pos_inf": int(np.isposinf(v).sum()), "neg_inf": int(np.isneginf(v).sum()),
           "finite": int(fin.size)}
    if fin.size:
        lo, hi = float(fin.min()), float(fin.max())
        counts, edges = np.histogram(fin, bins=BINS, range=(lo, hi))
        out.update(min=lo, max=hi, mean=float(fin.mean()), std=float(fin.std()),
                   hist_min=float(edges[0]), hist_max=float(edges[-1]),
                   hist_counts=[int(c) for c in counts])
    return out


def read(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        return None
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        return None
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except ValueError:
        return None
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, e in header.items():
        if e["dtype"] not in NUMPY and e["dtype"] not in ("BF16", "BOOL"):
            return None
        b, end = e["data_offsets"]
        out[name] = stats(e["dtype"], data[base + b:base + end])
    return out


def main(root):
    result = {}
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            # diffusers/ holds three LoRAs of 256 F32 tensors each, like
            # others already here: left out to keep this file small.
            if not f.endswith(".safetensors") or "malformed" in dirpath or "diffusers" in dirpath:
                continue
            p = os.path.join(dirpath, f)
            r = read(p)
            if r is not None:
                result[os.path.relpath(p, root)] = r
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "stats_expected.json"), "w") as out:
        json.dump(result, out, sort_keys=True, separators=(",", ":"))
        out.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
