"""The Python rows of the comparison: the reference implementation (the
safetensors Rust crate, through its Python binding) and torch.load, timed
inside one Python process so that starting Python and importing torch are
not counted.

    python3 anchors.py prepare MODEL BIN   # torch.save MODEL's tensors as BIN
    python3 anchors.py run MODEL BIN OUT N TOUCH # N samples of every row, as JSON

`run` prints one JSON object per row: {"id", "what", "times": [seconds per
sample], "error"}. A row that cannot run (no binding, no torch) says why in
"error" and the others still run. Every sample of a row checks its result
against the model (the number of tensors, and a sum of one byte of every
page of the data, compared with the same sum taken by the first load).
"""

import gc
import json
import os
import struct
import sys
import time


def touch(tensors):
    """One byte of every 4096 of each tensor's bytes, summed: faults in
    every page of a lazily mapped tensor, as the Go rows' touch does."""
    import torch

    s = 0
    for t in tensors.values():
        b = t.reshape(-1).view(torch.uint8)
        s += int(b[::4096].sum(dtype=torch.int64))
    return s


def read_plain(path):
    """Reads a safetensors file with json and torch.frombuffer alone (no
    binding), for `prepare` where the binding is missing. F32 only, which is
    all the benchmark's model holds."""
    import torch

    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']}, only F32 here")
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + b : base + e]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"])
    return out


def prepare(model, bin_path):
    import torch

    try:
        from safetensors.torch import load_file

        tensors = load_file(model, backend="pread")
    except ImportError:
        tensors = read_plain(model)
    torch.save(tensors, bin_path)


def rows(model, bin_path, out):
    """(id, what, setup, run): setup() is untimed and returns the state run
    takes; run(state) is timed and returns (tensor count, touch sum) to
    check, or None."""
    import torch

    try:
        import safetensors
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        st = None
        st_version = safetensors.__version__
    except ImportError as e:
        st = f"the reference's Python binding is not installed ({e}): run bench/setup-anchors.sh"
        st_version = "?"

    def need_st():
        if st is not None:
            raise RuntimeError(st)

    def st_open(_):
        need_st()
        with safe_open(model, framework="pt") as f:
            return (len(f.keys()), None)

    def st_lazy(_):
        need_st()
        d = load_file(model)
        return (len(d), None)

    def st_load(backend):
        def run(_):
            need_st()
            d = load_file(model, backend=backend)
            return (len(d), touch(d))

        return run

    def torch_lazy(_):
        d = torch.load(bin_path)
        return (len(d), None)

    def torch_load(_):
        d = torch.load(bin_path)
        return (len(d), touch(d))

    def in_memory():
        d = read_plain(model)
        touch(d)
        return d

    def st_save(d):
        need_st()
        save_file(d, out, metadata={"format": "pt"})
        return None

    def torch_save(d):
        torch.save(d, out)
        return None

    ref = f"reference {st_version}"
    tv = f"torch {torch.__version__}"
    return [
        ("open/reference", f"{ref}: safe_open (the Rust crate maps the file and validates the header), keys()", None, st_open),
        ("lazy/reference", f"{ref}: load_file (tensors over the mapping, nothing touched: how the 76.6x claim measured it)", None, st_lazy),
        ("lazy/torch", f"{tv}: torch.load of pytorch_model.bin (reads every tensor)", None, torch_lazy),
        ("load/reference", f"{ref}: load_file, touch every page", None, st_load("mmap")),
        ("load/reference-pread", f"{ref}: load_file(backend=\"pread\") into new tensors, touch every page", None, st_load("pread")),
        ("load/torch", f"{tv}: torch.load of pytorch_model.bin, touch every page", None, torch_load),
        ("save/reference", f"{ref}: save_file of tensors in memory", in_memory, st_save),
        ("save/torch", f"{tv}: torch.save of tensors in memory (pytorch_model.bin)", in_memory, torch_save),
    ]


def run(model, bin_path, out, n, want_touch):
    table = rows(model, bin_path, out)
    results = {rid: {"id": rid, "what": what, "times": [], "error": None} for rid, what, _, _ in table}
    want = {"touch": want_touch}
    # Rounds across the rows, as the Go side measures, each starting one
    # row further on.
    for k in range(n):
        for j in range(len(table)):
            rid, what, setup, fn = table[(j + k) % len(table)]
            res = results[rid]
            if res["error"] is not None:
                continue
            state = None
            try:
                state = setup() if setup else None
                gc.collect()
                t0 = time.perf_counter()
                got = fn(state)
                dt = time.perf_counter() - t0
                if got is not None:
                    count, s = got
                    w = want.setdefault("count", count)
                    if count != w:
                        raise RuntimeError(f"{count} tensors, want {w}")
                    if s is not None and s != want["touch"]:
                        raise RuntimeError(f"the bytes differ from the model's (touch sum {s}, want {want['touch']})")
                res["times"].append(dt)
            except Exception as e:  # noqa: BLE001 - reported as the row's error
                res["error"] = f"{type(e).__name__}: {e}"
            finally:
                del state
                gc.collect()
    for rid, _, _, _ in table:
        print(json.dumps(results[rid]))


def main(argv):
    if len(argv) >= 3 and argv[0] == "prepare":
        prepare(argv[1], argv[2])
    elif len(argv) == 6 and argv[0] == "run":
        run(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
