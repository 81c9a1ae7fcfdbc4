#!/usr/bin/env python3
"""Generate the NumPy conformance fixtures for slicing.

Writes, next to the repository's testdata:

  testdata/slices/fixtures.safetensors  tensors of several dtypes and shapes,
                                        assembled by hand (no safetensors
                                        package): 8-byte LE header length,
                                        compact JSON padded with spaces to a
                                        multiple of 8, then the data.
  testdata/slices/cases.json            index expressions with what NumPy
                                        makes of them.

Each case is an object:
  {"t": tensor, "x": expr, "shape": [...], "sha256": hex}   arr[expr]
  {"t": tensor, "x": expr, "error": "IndexError: ..."}      NumPy raises
and the view-of-view cases also have "y": arr[x][y] (x always succeeds).
When the result is a non-empty view of arr (not a NumPy scalar), "strides"
and "offset" give its byte strides and the byte offset of its first element
from arr's first byte.
"sha256" is the SHA-256 of np.asarray(result).tobytes(), the selected
elements packed in C order. Expressions are evaluated by Python itself as
the text between the brackets of arr[...], so they mean exactly what they
mean in NumPy. The empty expression is arr[()].

Run with Debian's NumPy (apt-get install python3-numpy), from the
repository root:

  /usr/bin/python3 scripts/gen_numpy_slices.py

The output is deterministic for a given NumPy version (seeded generator).
"""

import hashlib
import json
import os
import random
import struct
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "slices")

rng = np.random.default_rng(20240604)
rnd = random.Random(20240604)


def floats(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def ints(shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(rng.bytes(n * np.dtype(dtype).itemsize), dtype=dtype).reshape(shape).copy()


def bf16(shape):
    # BF16 as raw little-endian uint16: the top half of float32 values.
    f = rng.standard_normal(shape).astype("<f4")
    return (f.view("<u4") >> 16).astype("<u2")


# name -> (safetensors dtype, array). Little-endian dtypes throughout.
TENSORS = {
    "u8_7": ("U8", ints((7,), "u1")),
    "u8_scalar": ("U8", ints((), "u1")),
    "i8_6x7x2": ("I8", ints((6, 7, 2), "i1")),
    "i16_3x5": ("I16", ints((3, 5), "<i2")),
    "u16_2x1x1x3": ("U16", ints((2, 1, 1, 3), "<u2")),
    "f16_3x5x7": ("F16", floats((3, 5, 7), "<f2")),
    "bf16_2x3x4x5": ("BF16", bf16((2, 3, 4, 5))),
    "i32_5x6": ("I32", ints((5, 6), "<i4")),
    "f32_4x1x3": ("F32", floats((4, 1, 3), "<f4")),
    "f32_scalar": ("F32", floats((), "<f4")),
    "f32_0x3": ("F32", floats((0, 3), "<f4")),
    "f64_1": ("F64", floats((1,), "<f8")),
    "f64_9x4": ("F64", floats((9, 4), "<f8")),
    "i64_0": ("I64", ints((0,), "<i8")),
    "u64_3x2": ("U64", ints((3, 2), "<u8")),
    "c64_4x3": ("C64", (floats((4, 3), "<f4") + 1j * floats((4, 3), "<f4")).astype("<c8")),
    "bool_3x0x2": ("BOOL", rng.integers(0, 2, (3, 0, 2)).astype(bool)),
    "bool_4x5": ("BOOL", rng.integers(0, 2, (4, 5)).astype(bool)),
    "u8_2x3x4x5": ("U8", ints((2, 3, 4, 5), "u1")),
}


def write_fixture(path):
    names = sorted(TENSORS)
    header = {}
    off = 0
    for name in names:
        dt, arr = TENSORS[name]
        n = arr.nbytes
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + n]}
        off += n
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name in names:
            f.write(np.ascontiguousarray(TENSORS[name][1]).tobytes())


def evaluate(arr, expr):
    """arr[expr] as NumPy computes it, or the exception it raises."""
    src = "arr[()]" if expr.strip() == "" else "arr[" + expr + "]"
    return eval(src, {"__builtins__": {}}, {"arr": arr, "np": np, "None": None, "Ellipsis": Ellipsis})


def record(r, base):
    view = isinstance(r, np.ndarray) and r.size > 0 and np.shares_memory(r, base)
    r = np.asarray(r)
    out = {"shape": list(r.shape), "sha256": hashlib.sha256(r.tobytes()).hexdigest()}
    if view:
        # The geometry NumPy gives the view: byte strides, and the offset of
        # its first element from the start of the tensor's data.
        out["strides"] = list(r.strides)
        out["offset"] = r.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return out


def case(name, arr, expr, second=None):
    c = {"t": name, "x": expr}
    try:
        r = evaluate(arr, expr)
    except (IndexError, ValueError, OverflowError, TypeError) as e:
        assert second is None
        c["error"] = type(e).__name__ + ": " + str(e)
        return c
    if second is not None:
        c["y"] = second
        # A NumPy scalar (every dimension indexed by an integer) is a 0-d
        # view for us; index the 0-d array, as the view would be.
        r = np.asarray(r) if not isinstance(r, np.ndarray) else r
        try:
            r = evaluate(r, second)
        except (IndexError, ValueError, OverflowError, TypeError) as e:
            c["error"] = type(e).__name__ + ": " + str(e)
            return c
    c.update(record(r, arr))
    return c


BIG = [10**20, -(10**20), 2**63 - 1, -(2**63)]


def rand_bound(n):
    r = rnd.random()
    if r < 0.35:
        return None
    if r < 0.4:
        return rnd.choice(BIG)
    if r < 0.5:
        return rnd.randint(-n - 3, n + 3)  # often out of range: clamped
    return rnd.randint(-n, n)


def rand_step(n):
    r = rnd.random()
    if r < 0.3:
        return None
    if r < 0.33:
        return 0
    if r < 0.38:
        return rnd.choice([n + 5, -(n + 5), 2**63 - 1, -(2**63)])
    return rnd.choice([1, 2, 3, -1, -2, -3])


def fmt_part(v, none_word):
    if v is None:
        return "None" if none_word else ""
    return str(v)


def rand_slice(n):
    start, stop, step = rand_bound(n), rand_bound(n), rand_step(n)
    none_word = rnd.random() < 0.1
    s = fmt_part(start, none_word) + ":" + fmt_part(stop, none_word)
    if step is not None or rnd.random() < 0.15:
        s += ":" + fmt_part(step, none_word)
    return s


def rand_int(n):
    r = rnd.random()
    if r < 0.8:
        return str(rnd.randint(-n, n - 1)) if n > 0 else str(rnd.randint(-2, 2))
    if r < 0.95:
        return str(rnd.choice([n, -n - 1, n + 7]))
    return str(rnd.choice(BIG))


def rand_atom(n):
    r = rnd.random()
    if r < 0.35:
        return rand_int(n)
    return rand_slice(n)


def join(items):
    sep = rnd.choice([", ", ",", " , "])
    s = sep.join(items)
    if items and rnd.random() < 0.05:
        s += ","
    return s


def systematic(shape):
    """Each dimension alone through a fixed set of atoms, the rest full."""
    out = []
    for d, n in enumerate(shape):
        atoms = ["0", "1", "-1", str(n - 1), str(n), str(-n), str(-n - 1),
                 ":", "::-1", "1:", ":-1", "::2", "::-2", "-2:", "1:-1", "2:1", "3:0:-1",
                 "-100:100", "100:-100:-1", "::100", "::-100", str(n) + ":", ":" + str(-n),
                 "None:2", "::0"]
        for a in dict.fromkeys(atoms):
            lead = [":"] * d
            out.append(join(lead + [a]))
            if d > 0:
                # the same dimension reached through an ellipsis
                out.append(join(["...", a] + [":"] * (len(shape) - d - 1)))
    return out


def specials(shape):
    r = len(shape)
    out = ["", "...", "None", "None, ...", "..., None", "None, None", "...,", "Ellipsis", "np.newaxis",
           "..., ...", ", ".join(["0"] * (r + 1)), ", ".join([":"] * (r + 1)),
           ", ".join([":"] * r), ", ".join(["0"] * r), ", ".join(["-1"] * r)]
    if r:
        out += ["0, ...", "..., 0", "-1, ..., -1", ":, None, ...", "..., None, -1", "None, 0", "..., ::-1",
                ", ".join(["::-1"] * r), ", ".join(["::2"] * r), ", ".join(["1:"] * r), ", ".join(["0"] * r) + ", ...",
                ", ".join(["0"] * r) + ", None", "..., " + ", ".join([":"] * r), "0, ..., 0, ..."]
    return out


def random_exprs(shape, count):
    out = []
    r = len(shape)
    for _ in range(count):
        k = rnd.randint(0, r)
        dims = list(range(r))[:k]
        items = [rand_atom(shape[d]) for d in dims]
        if rnd.random() < 0.25:
            # an ellipsis somewhere, the atoms after it apply to the last dims
            pos = rnd.randint(0, len(items))
            items.insert(pos, rnd.choice(["...", "...", "Ellipsis"]))
        if rnd.random() < 0.12:
            items.insert(rnd.randint(0, len(items)), "None")
        if rnd.random() < 0.03:
            items.append(rand_atom(3))  # likely one too many
        if rnd.random() < 0.01:
            items.insert(rnd.randint(0, len(items)), "...")  # maybe a second ellipsis
        out.append(join(items))
    return out


def second_exprs(shape_after, count):
    return random_exprs(shape_after, count)


def main():
    os.makedirs(OUT, exist_ok=True)
    write_fixture(os.path.join(OUT, "fixtures.safetensors"))
    cases = []
    for name in sorted(TENSORS):
        _, arr = TENSORS[name]
        shape = arr.shape
        exprs = systematic(shape) + specials(shape) + random_exprs(shape, 160)
        seen = set()
        for e in exprs:
            if e in seen:
                continue
            seen.add(e)
            cases.append(case(name, arr, e))
        # views of views: arr[x][y], x a valid index
        made = 0
        tries = 0
        while made < 40 and tries < 1000:
            tries += 1
            x = random_exprs(shape, 1)[0]
            try:
                r = np.asarray(evaluate(arr, x))
            except (IndexError, ValueError, OverflowError, TypeError):
                continue
            y = second_exprs(r.shape, 1)[0]
            cases.append(case(name, arr, x, y))
            made += 1
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]\n")
    errors = sum(1 for c in cases if "error" in c)
    vv = sum(1 for c in cases if "y" in c)
    print(f"{len(cases)} cases ({errors} errors, {vv} views of views) for {len(TENSORS)} tensors; numpy {np.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
