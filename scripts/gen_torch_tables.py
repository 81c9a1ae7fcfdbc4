#!/usr/bin/env python3
"""Writes testdata/convert/torch_casts.bin.gz: how PyTorch casts float32 to
the narrow float dtypes, for convert_test.go to compare against.

Run once, from the repository root, with Debian's PyTorch and NumPy:

    apt-get install -y python3-torch python3-numpy
    /usr/bin/python3 scripts/gen_torch_tables.py

The tests never need Python or torch: they read the committed output.

Inputs (float32, deterministic): special values (zeros, infinities, NaNs
with payloads, the extremes of float32, subnormals, the overflow
thresholds), the midpoint between every pair of neighbouring finite F16
values and between every fourth pair of BF16 values, with the float32
numbers just below and above each midpoint, and 20,000 random bit patterns
and 20,000 random values of ordinary magnitude. Special and random values
come with both signs, midpoints with both signs for one pair in sixteen.
Casting a midpoint tests the ties-to-even rule; its neighbours test that
nothing else is a tie. Every F16 and BF16 value itself is checked by the
Go tests' round trips, which need no torch.

Output: gzip of a text header line, then little-endian binary records.
  header: b"torch-casts v1 torch=<version> columns=f16,bf16[,...] count=<N>\\n"
  record: uint32 input float32 bits, then one uint16 per column: the bits
          torch's tensor.to(dtype) produced (a float8 result in the low byte).
Columns are f16 and bf16, and each float8 dtype this torch has
(float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz; Debian 12's
torch 1.13 has none of them).
"""
import gzip
import os
import sys

import numpy as np
import torch

OUT = os.path.join("testdata", "convert", "torch_casts.bin.gz")


def f16_values():
    codes = np.arange(0x10000, dtype=np.uint16)
    v = codes.view(np.float16).astype(np.float32)
    return v[np.isfinite(v)]


def bf16_values():
    codes = np.arange(0x10000, dtype=np.uint32) << 16
    v = codes.astype(np.uint32).view(np.float32)
    return v[np.isfinite(v)]


def small_values(ebits, mbits, bias, maxcode):
    """Positive values of a small format, codes 0..maxcode."""
    out = []
    for c in range(maxcode + 1):
        e, m = c >> mbits, c & ((1 << mbits) - 1)
        if e == 0:
            out.append(np.ldexp(m, 1 - bias - mbits))
        else:
            out.append(np.ldexp(m + (1 << mbits), e - bias - mbits))
    return np.array(out, dtype=np.float64)


def midpoints(values):
    """Midpoints of neighbouring magnitudes, with their float32 neighbours."""
    v = np.unique(np.abs(values.astype(np.float64)))
    mid = ((v[1:] + v[:-1]) / 2).astype(np.float32)  # exact for these formats
    below = np.nextafter(mid, np.float32(-np.inf))
    above = np.nextafter(mid, np.float32(np.inf))
    return np.concatenate([mid, below, above])


def main():
    f32 = np.float32
    info = np.finfo(np.float32)
    special = np.array([0.0, np.inf, info.max, info.tiny, np.float32(1e-45),
                        info.tiny / 2, 1.0, 0.5, 1 / 3.0, np.pi, 65504, 65519.996,
                        65520, 65536, 3.3895314e38, 3.3961776e38, 3.4028235e38,
                        448, 464, 480, 240, 248, 256, 57344, 61440, 65536,
                        2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 2.0 ** -133, 2.0 ** -134],
                       dtype=np.float64).astype(f32)
    nans = np.array([0x7FC00000, 0x7F800001, 0x7FA00000, 0x7FFFFFFF, 0x7FC0FFFF,
                     0x7F80FFFF, 0x7FBFFFFF], dtype=np.uint32).view(f32)
    rng = np.random.default_rng(20240501)
    rand_bits = rng.integers(0, 1 << 32, size=20000, dtype=np.uint64).astype(np.uint32).view(f32)
    rand_vals = (rng.standard_normal(20000) * np.exp2(rng.integers(-30, 30, size=20000))).astype(f32)
    signed = [special, nans, -special, -nans, rand_bits, rand_vals]
    parts = [midpoints(f16_values()), midpoints(bf16_values()[::4])]
    # Float8 midpoints and thresholds, useful when this torch has float8.
    for ebits, mbits, bias, maxcode in [(4, 3, 7, 0x7E), (5, 2, 15, 0x7B),
                                        (4, 3, 8, 0x7F), (5, 2, 16, 0x7F)]:
        vals = small_values(ebits, mbits, bias, maxcode)
        parts.append(vals.astype(f32))
        parts.append(midpoints(vals))
    x = np.concatenate(parts).astype(f32)
    x = np.concatenate(signed + [x, -x[::16]]).astype(f32)
    bits = x.view(np.uint32)
    # Keep the first occurrence of each bit pattern, in order.
    _, first = np.unique(bits, return_index=True)
    bits = bits[np.sort(first)]
    x = bits.view(f32)

    t = torch.from_numpy(x.copy())
    cols = [("f16", torch.float16, torch.int16), ("bf16", torch.bfloat16, torch.int16)]
    for name in ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"]:
        dt = getattr(torch, name, None)
        if dt is not None:
            cols.append((name, dt, torch.uint8))
    outs = []
    for name, dt, raw in cols:
        y = t.to(dt).view(raw).numpy().astype(np.uint16) if raw == torch.uint8 else \
            t.to(dt).view(raw).numpy().view(np.uint16)
        outs.append(y.astype("<u2"))
    rec = np.zeros(len(x), dtype=[("in", "<u4")] + [(c[0], "<u2") for c in cols])
    rec["in"] = bits
    for (name, _, _), y in zip(cols, outs):
        rec[name] = y
    header = "torch-casts v1 torch=%s columns=%s count=%d\n" % (
        torch.__version__, ",".join(c[0] for c in cols), len(x))
    with gzip.GzipFile(OUT, "wb", mtime=0) as f:
        f.write(header.encode())
        f.write(rec.tobytes())
    print(header.strip(), "->", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
