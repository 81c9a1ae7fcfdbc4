#!/usr/bin/env python3
"""Writes testdata/real_expected.json: what an independent reading of each real
file in ../shared/testdata/real gives, for TestRealFiles.

The parser here is written by hand from the format's description (8-byte
little-endian length, UTF-8 JSON, data buffer) with only the Python standard
library: no safetensors, no numpy, no code of ours. For each valid file it
records every tensor's dtype, shape, data_offsets and the sha256 of its bytes,
the metadata, and the buffer order. For each file it refuses, it records the
error class of the reference implementation that applies, decided
here from the bytes.

Run from the repository root:  python3 scripts/expected_real.py ../shared/testdata/real
"""
import hashlib, json, os, struct, sys

BITS = {"BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
        "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64, "C64": 64,
        "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
        "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise KeyError("duplicate keys: " + ", ".join(dups))
    return dict(pairs)


def read(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        return {"error": "HeaderTooSmall"}
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000:
        return {"error": "HeaderTooLarge"}
    if 8 + n > len(data):
        return {"error": "InvalidHeaderLength"}
    try:
        text = data[8:8 + n].decode("utf-8")
        header = json.loads(text, object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError, KeyError) as e:
        return {"error": "InvalidHeader", "why": str(e)}
    meta = header.pop("__metadata__", None)
    entries = sorted(header.items(), key=lambda kv: (kv[1]["data_offsets"][0], kv[1]["data_offsets"][1], kv[0]))
    running = 0
    tensors = {}
    for name, e in entries:
        b, end = e["data_offsets"]
        if b != running or end < b:
            return {"error": "InvalidOffset", "tensor": name}
        count = 1
        for d in e["shape"]:
            count *= d
        nbits = count * BITS[e["dtype"]]
        if nbits % 8 or end - b != nbits // 8:
            return {"error": "TensorInvalidInfo", "tensor": name}
        running = end
        tensors[name] = {
            "dtype": e["dtype"], "shape": e["shape"], "data_offsets": [b, end],
            "sha256": hashlib.sha256(data[8 + n + b:8 + n + end]).hexdigest(),
        }
    if 8 + n + running != len(data):
        return {"error": "MetadataIncompleteBuffer"}
    return {"header_size": n, "metadata": meta, "tensors": tensors,
            "order": [name for name, _ in entries],
            "file_sha256": hashlib.sha256(data).hexdigest()}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/testdata/real"
    out = {}
    for folder in sorted(os.listdir(root)):
        d = os.path.join(root, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".safetensors"):
                out[folder + "/" + name] = read(os.path.join(d, name))
    with open("testdata/real_expected.json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(len(out), "files")


if __name__ == "__main__":
    main()
