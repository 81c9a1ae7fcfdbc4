#!/usr/bin/env python3
"""Generate the PyTorch checkpoint fixtures of pytorch/testdata.

Run from the repository root with Debian's torch (apt-get install python3-torch,
torch 1.13):

    /usr/bin/python3 scripts/gen_torch_fixtures.py

It writes small checkpoints made by torch.save (zip and legacy formats), a few
variants built from them (big-endian storages, torch 2.x records, missing
storage, bad byteorder), hand-built malicious pickles, and expected.json: for
each fixture, the tensors torch itself loads from it (dtype, shape, and the
sha256 of t.contiguous()'s bytes), the exact aliases a conversion leaves out
(computed here on the real torch tensors), or the error expected.

It also writes views.pt and views_legacy.pt, one state dict holding every kind
of view of a shared storage (transpose, row block, column block, stepped,
permuted, expanded, scalar and empty views, a view of a view) beside exact
aliases (one tensor under two names, tied weights of a real module), with
views_expected.safetensors: torch's own t.contiguous() values of every entry,
written here by hand in the safetensors layout (no safetensors package). And
sharded/: a checkpoint saved as two .bin shards with transformers' index
(pytorch_model.bin.index.json), with sharded/expected.safetensors likewise.

The malicious fixtures are checked to be live: each is loaded once with plain
torch.load (weights_only=False) in a subprocess, which must create the marker
file; the marker is then removed. The Go tests prove that reading them creates
nothing.
"""

import collections
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pytorch", "testdata")
MARKER = "/tmp/safetensors-go-pytorch-fixture-pwned"

ST_DTYPE = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64",
}

expected = {}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def describe(sd):
    out = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        out[k] = {
            "dtype": ST_DTYPE.get(v.dtype, ""),
            "torch_dtype": str(v.dtype).replace("torch.", ""),
            "shape": list(v.shape),
            "stride": list(v.stride()),
            "offset": v.storage_offset(),
            "contiguous": v.is_contiguous(),
            "sha256": hashlib.sha256(tensor_bytes(v)).hexdigest() if v.dtype in ST_DTYPE else "",
        }
    return out


# --- the conversion's rule for aliases, on real torch tensors (the oracle):
# names are aliases only when torch sees the same storage (data_ptr and size,
# as safetensors' convert.py identifies storages), storage offset, dtype,
# shape and strides; the first name in sorted order is kept. Unlike
# convert.py, a view that is not an exact alias is never dropped.

def storage_ptr(t):
    return t.storage().data_ptr()


def storage_size(t):
    return t.storage().nbytes()


def exact_aliases(sd, discard_names=()):
    groups = collections.defaultdict(list)
    for k, v in sd.items():
        if storage_size(v) == 0:
            continue
        key = (storage_ptr(v), storage_size(v), v.dtype, v.storage_offset(), tuple(v.shape), tuple(v.stride()))
        groups[key].append(k)
    to_remove = {}
    for names in groups.values():
        names = sorted(names)
        preferred = [n for n in names if n not in discard_names]
        keep = preferred[0] if preferred else names[0]
        for name in names:
            if name != keep:
                to_remove[name] = keep
    return to_remove


def convert_expectation(sd):
    """What the conversion does to sd: the names it leaves out and the sizes."""
    if "state_dict" in sd:
        sd = sd["state_dict"]
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    removed = exact_aliases(tensors)
    kept = {k: v for k, v in tensors.items() if k not in removed}
    out_bytes = sum(v.nelement() * v.element_size() for v in kept.values())
    storages = {}
    for v in tensors.values():
        storages[storage_ptr(v)] = storage_size(v)
    in_bytes = sum(storages.values())
    return {"removed": removed, "bytes": out_bytes, "input_bytes": in_bytes}


def save(name, obj, legacy=False, **extra):
    path = os.path.join(OUT, name)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    loaded = torch.load(path)  # torch's own reading of the file: the oracle
    sd = loaded
    unwrapped = isinstance(loaded, dict) and "state_dict" in loaded
    if unwrapped:
        sd = loaded["state_dict"]
    e = {
        "format": "legacy" if legacy else "zip",
        "byteorder": "little",
        "unwrapped": unwrapped,
        "tensors": describe(sd),
        "non_tensors": {k: type(v).__name__ for k, v in sd.items() if not isinstance(v, torch.Tensor)},
    }
    e.update(convert_expectation(loaded))
    e.update(extra)
    expected[name] = e
    return path


def main_state_dict():
    torch.manual_seed(0)
    base = torch.randn(4, 3)
    big = torch.arange(24, dtype=torch.float32).reshape(8, 3)
    grid = torch.arange(30, dtype=torch.int32).reshape(5, 6)
    embed = torch.randn(5, 2)
    full = torch.arange(12, dtype=torch.int16)
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(2, 3)
    sd["f16"] = torch.randn(3, 2).half()
    sd["bf16"] = torch.randn(2, 2, 2).bfloat16()
    sd["f64"] = torch.randn(3).double()
    sd["i64"] = torch.tensor([-(2**62), -1, 0, 1, 2**62], dtype=torch.int64)
    sd["i32"] = torch.tensor([[-(2**31), 2**31 - 1]], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 7, 32767], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([[True, False], [False, True]])
    sd["c64"] = torch.tensor([1 + 2j, -3.5 + 0.25j], dtype=torch.complex64)
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["transposed"] = base.t()  # complete, not contiguous
    sd["narrowed"] = big[2:5]  # an offset view of a larger storage
    sd["strided"] = grid[1:4, ::2]  # offset and strided
    sd["embed.weight"] = embed  # tied: the same tensor twice
    sd["lm_head.weight"] = embed
    sd["shared.full"] = full  # a view inside a complete tensor
    sd["shared.part"] = full[2:6]
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2))  # _rebuild_parameter
    sd["a.nan"] = torch.tensor([float("nan"), float("inf"), -0.0])
    return sd


# --- zip rewriting helpers (Python's zipfile stores records uncompressed)

def read_zip(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip(path, records):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in records:
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)


def storage_dtypes(data_pkl):
    """Map each storage key of a data.pkl to its storage dtype, by unpickling
    our own file with a recording persistent_load."""
    keys = {}

    class U(pickle.Unpickler):
        def persistent_load(self, pid):
            _, stype, key, _, numel = pid
            keys[key] = stype.dtype if hasattr(stype, "dtype") else stype(0).dtype
            return torch.storage.TypedStorage(numel, dtype=keys[key]) if hasattr(torch.storage, "TypedStorage") else stype(numel)

    U(io.BytesIO(data_pkl)).load()
    return keys


SWAP_UNIT = {torch.float32: 4, torch.float64: 8, torch.float16: 2, torch.bfloat16: 2, torch.int64: 8,
             torch.int32: 4, torch.int16: 2, torch.int8: 1, torch.uint8: 1, torch.bool: 1, torch.complex64: 4}


def big_endian_variant(src, name):
    recs = read_zip(os.path.join(OUT, src))
    prefix = recs[0][0].split("/")[0]
    dtypes = storage_dtypes(dict(recs)[prefix + "/data.pkl"])
    out = []
    for n, data in recs:
        if n.startswith(prefix + "/data/"):
            unit = SWAP_UNIT[dtypes[n[len(prefix + "/data/"):]]]
            if unit > 1:
                data = np.frombuffer(data, dtype="<u%d" % unit).byteswap().tobytes()
        out.append((n, data))
        if n == prefix + "/data.pkl":
            out.append((prefix + "/byteorder", b"big"))
    write_zip(os.path.join(OUT, name), out)
    e = dict(expected[src])
    e["byteorder"] = "big"
    expected[name] = e


def record_variant(src, name, drop=(), add=(), error=None):
    recs = read_zip(os.path.join(OUT, src))
    prefix = recs[0][0].split("/")[0]
    recs = [(n, d) for n, d in recs if n[len(prefix) + 1:] not in drop]
    recs[1:1] = [(prefix + "/" + n, d) for n, d in add]
    write_zip(os.path.join(OUT, name), recs)
    expected[name] = {"error": error}


# --- a legacy checkpoint with a storage view (written by torch < 0.4's
# serializer; torch 1.13 still reads it, which is the oracle)

class _FakeStorage:
    def __init__(self, stype, key, numel, view):
        self.stype, self.key, self.numel, self.view = stype, key, numel, view


class _FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            return ("storage", obj.stype, obj.key, "cpu", obj.numel, obj.view)
        return None


def legacy_view():
    root = np.arange(10, dtype="<f4")
    s_root = _FakeStorage(torch.FloatStorage, "k0", 10, None)
    s_view = _FakeStorage(torch.FloatStorage, "k0", 10, ("v1", 4, 6))  # elements 4..9
    obj = collections.OrderedDict([
        ("whole", _FakeTensor(s_root, 0, (10,), (1,))),
        ("view", _FakeTensor(s_view, 1, (2, 2), (1, 2))),  # offset 1 in the view, transposed
    ])
    f = io.BytesIO()
    for v in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                           "type_sizes": {"short": 2, "int": 4, "long": 8}}):
        pickle.dump(v, f, protocol=2)
    _LegacyPickler(f, protocol=2).dump(obj)
    pickle.dump(["k0"], f, protocol=2)
    f.write(struct.pack("<q", 10))
    f.write(root.tobytes())
    path = os.path.join(OUT, "legacy_view.pt")
    with open(path, "wb") as out:
        out.write(f.getvalue())
    loaded = torch.load(path)
    expected["legacy_view.pt"] = {
        "format": "legacy", "byteorder": "little", "unwrapped": False,
        "tensors": describe(loaded), "non_tensors": {},
    }
    # convert.py sees two storages (the view storage's data_ptr differs).
    expected["legacy_view.pt"].update(convert_expectation(loaded))


# --- a torch 2.x style checkpoint: _rebuild_tensor_v3 over UntypedStorage for
# the dtypes torch 1.13 lacks, plus the records newer torch writes. The
# functions and dtypes are stand-ins installed under torch's real names so
# that Python's pickler emits exactly the globals torch 2.x does.

class _V3Tensor:
    def __init__(self, storage, offset, size, stride, dtype):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict(), dtype)

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v3, self.args)


class _DType:
    def __init__(self, name):
        self.name = name
        self.__module__ = "torch"  # where pickle's whichmodule finds it, as a torch.dtype

    def __reduce__(self):
        return self.name


class _ZipPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            return ("storage", obj.stype, obj.key, "cpu", obj.numel)
        return None


def torch2_v3():
    def _rebuild_tensor_v3(*args):
        raise RuntimeError("stand-in")

    _rebuild_tensor_v3.__module__ = "torch._utils"
    _rebuild_tensor_v3.__qualname__ = "_rebuild_tensor_v3"
    torch._utils._rebuild_tensor_v3 = _rebuild_tensor_v3
    dts = {}
    for n in ("float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"):
        if not hasattr(torch, n):
            setattr(torch, n, _DType(n))
        dts[n] = getattr(torch, n)
    rng = np.random.default_rng(7)
    raws = {
        "0": rng.integers(0, 256, 6, dtype=np.uint8).tobytes(),  # float8_e4m3fn, 2x3
        "1": rng.integers(0, 256, 4, dtype=np.uint8).tobytes(),  # float8_e5m2, 4
        "2": np.array([0, 1, 65535, 300, 7, 9], dtype="<u2").tobytes(),  # uint16 3x2, read transposed
        "3": np.array([4294967295, 0, 12345], dtype="<u4").tobytes(),
        "4": np.array([2**64 - 1, 1], dtype="<u8").tobytes(),
        "5": torch.tensor([1.5, -2.0, 3.25]).bfloat16().view(torch.int16).numpy().tobytes(),
    }
    U = torch.storage.UntypedStorage
    st = {k: _FakeStorage(U, k, len(v), None) for k, v in raws.items()}
    st["5"] = _FakeStorage(torch.BFloat16Storage, "5", 3, None)
    obj = collections.OrderedDict([
        ("f8_e4m3", _V3Tensor(st["0"], 0, (2, 3), (3, 1), dts["float8_e4m3fn"])),
        ("f8_e5m2", _V3Tensor(st["1"], 0, (4,), (1,), dts["float8_e5m2"])),
        ("u16_t", _V3Tensor(st["2"], 0, (2, 3), (1, 2), dts["uint16"])),
        ("u32", _V3Tensor(st["3"], 0, (3,), (1,), dts["uint32"])),
        ("u64", _V3Tensor(st["4"], 1, (1,), (1,), dts["uint64"])),
        ("bf16", _FakeTensor(st["5"], 0, (3,), (1,))),
    ])
    f = io.BytesIO()
    _ZipPickler(f, protocol=2).dump(obj)
    recs = [("archive/data.pkl", f.getvalue()), ("archive/.format_version", b"1"),
            ("archive/.storage_alignment", b"64"), ("archive/byteorder", b"little")]
    recs += [("archive/data/" + k, raws[k]) for k in sorted(raws, key=int)]
    recs += [("archive/version", b"3\n"), ("archive/.data/serialization_id", b"1234567890")]
    write_zip(os.path.join(OUT, "torch2_v3.pt"), recs)

    def view(raw, np_dtype, offset, shape, stride):
        a = np.frombuffer(raw, dtype=np_dtype)
        isz = a.itemsize
        v = np.lib.stride_tricks.as_strided(a[offset:], shape=shape, strides=[s * isz for s in stride])
        return np.ascontiguousarray(v).tobytes()

    t = {
        "f8_e4m3": ("F8_E4M3", "float8_e4m3fn", [2, 3], [3, 1], 0, True, view(raws["0"], "u1", 0, (2, 3), (3, 1))),
        "f8_e5m2": ("F8_E5M2", "float8_e5m2", [4], [1], 0, True, view(raws["1"], "u1", 0, (4,), (1,))),
        "u16_t": ("U16", "uint16", [2, 3], [1, 2], 0, False, view(raws["2"], "<u2", 0, (2, 3), (1, 2))),
        "u32": ("U32", "uint32", [3], [1], 0, True, view(raws["3"], "<u4", 0, (3,), (1,))),
        "u64": ("U64", "uint64", [1], [1], 1, True, view(raws["4"], "<u8", 1, (1,), (1,))),
        "bf16": ("BF16", "bfloat16", [3], [1], 0, True, raws["5"]),
    }
    expected["torch2_v3.pt"] = {
        "format": "zip", "byteorder": "little", "unwrapped": False, "non_tensors": {},
        "tensors": {k: {"dtype": d, "torch_dtype": td, "shape": sh, "stride": sd, "offset": off,
                        "contiguous": c, "sha256": hashlib.sha256(b).hexdigest()}
                    for k, (d, td, sh, sd, off, c, b) in t.items()},
        "removed": {}, "bytes": 6 + 4 + 12 + 12 + 8 + 6, "input_bytes": sum(len(v) for v in raws.values()),
    }


# --- views of shared storages, exact aliases, and a sharded checkpoint

def write_safetensors(path, tensors):
    """Writes each tensor's t.contiguous() bytes, as torch gives them, in the
    safetensors layout, by hand: an 8-byte little-endian header length, the
    JSON header (names sorted, data_offsets back to back), padded with
    spaces to a multiple of 8, then the bytes."""
    header, data = {}, b""
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def views_state_dict():
    torch.manual_seed(2)
    base = torch.randn(6, 5)
    x = torch.randn(3)
    module = torch.nn.Sequential(torch.nn.Embedding(4, 3), torch.nn.Linear(3, 4, bias=False))
    module[1].weight = module[0].weight  # tied weights, as a language model's head
    h = torch.randn(4, 6).half()
    cube = torch.arange(24, dtype=torch.int64).reshape(2, 3, 4)
    bf = torch.randn(3, 4).bfloat16()
    sd = collections.OrderedDict()
    sd["base"] = base
    sd["t"] = base.T  # transpose
    sd["rows"] = base[2:4]  # row block
    sd["cols"] = base[:, 1:3]  # column block
    sd["stepped"] = base[::2, ::3]  # stepped view
    sd["rows_again"] = base[2:4]  # another view object with the same layout: an exact alias of rows
    sd["row0"] = base[0]
    sd["flat_prefix"] = base.view(-1)[:5]  # the same elements as row0, the same layout: an exact alias
    sd["diag"] = base.as_strided((5,), (6,))  # row0's offset and shape, other strides: not an alias
    sd["elem"] = base[3, 2]  # a 0-dim view at an offset
    sd["empty_view"] = base[2:2]
    sd["alias_a"] = x
    sd["alias_b"] = x  # b = a
    for k, v in module.state_dict().items():
        sd["tied." + k] = v  # tied.0.weight and tied.1.weight share everything
    sd["expanded"] = torch.arange(4, dtype=torch.float32).expand(3, 4)  # strides (0, 1)
    sd["expanded_col"] = torch.arange(3, dtype=torch.float32).reshape(3, 1).expand(3, 4)  # strides (1, 0)
    sd["h.t_rows"] = h.T[1:4]  # a view of a view; h itself is not saved
    sd["h.cols"] = h[:, 2:5]  # overlaps h.t_rows; neither covers the storage
    sd["permuted"] = cube.permute(2, 0, 1)
    sd["bf.t"] = bf.T
    return sd


def check_views(sd, loaded):
    """The file really holds views: torch loads each entry with the layout it
    was saved with, sharing the storages it shared."""
    for k, v in sd.items():
        w = loaded[k]
        assert w.stride() == v.stride() and w.storage_offset() == v.storage_offset() and torch.equal(w, v), k
    for k in ("t", "rows", "cols", "stepped", "diag", "elem"):
        assert storage_ptr(loaded[k]) == storage_ptr(loaded["base"]), k


def views():
    sd = views_state_dict()
    for name, legacy in (("views.pt", False), ("views_legacy.pt", True)):
        save(name, sd, legacy=legacy)
        check_views(sd, torch.load(os.path.join(OUT, name)))
    write_safetensors(os.path.join(OUT, "views_expected.safetensors"), torch.load(os.path.join(OUT, "views.pt")))


def sharded():
    folder = os.path.join(OUT, "sharded")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(3)
    emb = torch.randn(5, 4)
    qkv = torch.randn(6, 4)
    shards = [
        collections.OrderedDict([("embed.weight", emb), ("lm_head.weight", emb),  # tied
                                 ("q.weight", qkv[0:2]), ("k.weight", qkv[2:4]), ("v.weight", qkv[4:6])]),
        collections.OrderedDict([("norm.weight", torch.ones(4)), ("proj.weight", torch.randn(4, 3).T),
                                 ("pos", torch.arange(8).expand(2, 8))]),
    ]
    weight_map, total, everything = {}, 0, {}
    for i, sd in enumerate(shards):
        name = "pytorch_model-%05d-of-%05d.bin" % (i + 1, len(shards))
        save(os.path.join("sharded", name), sd)
        loaded = torch.load(os.path.join(folder, name))
        storages = {}
        for k, v in loaded.items():
            weight_map[k] = name
            storages[storage_ptr(v)] = storage_size(v)
            everything[k] = v
        total += sum(storages.values())
    # As transformers' save_pretrained writes it.
    with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
        f.write(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n")
    write_safetensors(os.path.join(OUT, "sharded_expected.safetensors"), everything)


# --- malicious checkpoints

def zip_with_pickle(name, data_pkl, error_global):
    write_zip(os.path.join(OUT, name), [("archive/data.pkl", data_pkl), ("archive/version", b"3\n")])
    expected[name] = {"error": "forbidden", "global": error_global, "malicious": True}


def short_unicode(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + MARKER,))


class _NestedEvil:
    def __reduce__(self):
        inner = pickle.dumps(_Evil(), protocol=2)
        return (torch.storage._load_from_bytes, (inner,))


def malicious():
    cmd = "touch " + MARKER
    # GLOBAL os.system + REDUCE
    zip_with_pickle("malicious_os_system.pt",
                    b"\x80\x02cos\nsystem\n" + binunicode(cmd) + b"\x85R.", "os.system")
    # builtins.eval of Python source
    src = "__import__('os').system(%r)" % cmd
    zip_with_pickle("malicious_builtins_eval.pt",
                    b"\x80\x02cbuiltins\neval\n" + binunicode(src) + b"\x85R.", "builtins.eval")
    # posix.system through STACK_GLOBAL (protocol 4)
    zip_with_pickle("malicious_posix_stack_global.pt",
                    b"\x80\x04" + short_unicode("posix") + short_unicode("system") + b"\x93"
                    + short_unicode(cmd) + b"\x85R.", "posix.system")
    # STACK_GLOBAL whose names come from the memo: no literal "os" next to it
    zip_with_pickle("malicious_memo_stack_global.pt",
                    b"\x80\x04" + short_unicode("os") + b"\x94" + short_unicode("system") + b"\x94"
                    + b"0" + b"0" + b"h\x00h\x01\x93" + short_unicode(cmd) + b"\x85R.", "os.system")
    # INST (protocol 0): class and call in one opcode
    zip_with_pickle("malicious_inst.pt", b"(S'" + cmd.encode() + b"'\nios\nsystem\n.", "os.system")
    # subprocess
    zip_with_pickle("malicious_subprocess.pt",
                    b"\x80\x02csubprocess\ncheck_call\n(S'touch'\nS'" + MARKER.encode() + b"'\nl\x85R.",
                    "subprocess.check_call")
    # a payload nested in an OrderedDict state dict, after a valid entry
    zip_with_pickle("malicious_nested.pt",
                    b"\x80\x02ccollections\nOrderedDict\n)R(" + binunicode("epoch") + b"K\x05"
                    + binunicode("evil") + b"cos\nsystem\n" + binunicode(cmd) + b"\x85Ru.", "os.system")
    # Python's own pickling of a __reduce__ object inside a dict (emits posix.system)
    zip_with_pickle("malicious_reduce_class.pt", pickle.dumps({"x": _Evil()}, protocol=2),
                    os.system.__module__ + ".system")
    # a torch gadget: torch.storage._load_from_bytes runs torch.load on nested bytes
    zip_with_pickle("malicious_torch_gadget.pt", pickle.dumps({"x": _NestedEvil()}, protocol=2),
                    "torch.storage._load_from_bytes")
    # legacy format: valid header pickles, payload in the main pickle
    f = io.BytesIO()
    for v in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(v, f, protocol=2)
    f.write(b"\x80\x02cos\nsystem\n" + binunicode(cmd) + b"\x85R.")
    pickle.dump([], f, protocol=2)
    with open(os.path.join(OUT, "malicious_legacy.pt"), "wb") as out:
        out.write(f.getvalue())
    expected["malicious_legacy.pt"] = {"error": "forbidden", "global": "os.system", "malicious": True}
    # legacy format with the payload in place of the magic number
    with open(os.path.join(OUT, "malicious_legacy_magic.pt"), "wb") as out:
        out.write(b"\x80\x02cposix\nsystem\n" + binunicode(cmd) + b"\x85R.")
    expected["malicious_legacy_magic.pt"] = {"error": "forbidden", "global": "posix.system", "malicious": True}

    # Prove the payloads are live: plain torch.load runs each one.
    for name, e in expected.items():
        if not e.get("malicious"):
            continue
        if os.path.exists(MARKER):
            os.remove(MARKER)
        subprocess.run([sys.executable, "-c", "import sys, torch\ntry:\n torch.load(sys.argv[1])\nexcept Exception:\n pass",
                        os.path.join(OUT, name)], check=True, capture_output=True)
        if not os.path.exists(MARKER):
            raise SystemExit("payload of %s did not run under torch.load" % name)
        os.remove(MARKER)


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = main_state_dict()
    save("state_dict.pt", sd)
    save("state_dict_legacy.pt", sd, legacy=True)
    torch.manual_seed(1)
    inner = collections.OrderedDict([("layer.weight", torch.randn(2, 2)), ("layer.bias", torch.randn(2))])
    save("nested_state_dict.pt", {"epoch": 3, "state_dict": inner, "optimizer": {"lr": 0.1}})
    save("with_extras.pt", {"w": torch.ones(2), "epoch": 5, "note": "hi", "history": [1.0, 2.0]})
    save("complex128.pt", {"ok": torch.ones(1), "z": torch.tensor([1 + 1j], dtype=torch.complex128)},
         error="dtype")
    big = torch.arange(12, dtype=torch.float32)
    save("shared_no_complete.pt", {"a": big[0:6], "b": big[3:9]})
    full = torch.arange(100, dtype=torch.float32)
    save("overlap_quirk.pt", {"A": full, "B": full[10:20], "C": full[30:40]})
    save("expanded.pt", {"e": torch.arange(4, dtype=torch.float32).expand(3, 4)})
    qt = torch.quantize_per_tensor(torch.tensor([0.5, 1.0]), 0.1, 0, torch.quint8)
    torch.save({"q": qt}, os.path.join(OUT, "quantized.pt"))
    expected["quantized.pt"] = {"error": "forbidden", "global": "torch._utils._rebuild_qtensor"}

    big_endian_variant("state_dict.pt", "big_endian.pt")
    record_variant("state_dict.pt", "bad_byteorder.pt", add=[("byteorder", b"middle")], error="byteorder")
    record_variant("state_dict.pt", "missing_storage.pt", drop=("data/1",), error="missing")
    legacy_view()
    torch2_v3()
    views()
    sharded()
    malicious()

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("torch", torch.__version__, "wrote", len(expected), "fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
