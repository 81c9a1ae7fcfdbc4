#!/usr/bin/env python3
"""Expected outputs for sharded_write_test.go, made with Python itself.

    python3 testdata/sharded/gen.py   # from the repository root

It writes, next to itself:

- index_tricky.json: an index written the way transformers' save_pretrained
  writes it (modeling_utils.py: json.dumps(index, indent=2, sort_keys=True)
  + "\\n"), for tensor names that exercise every escape of ensure_ascii;
- plans.json: shard assignments for a few lists of tensor sizes, computed by
  split_state_dict_into_shards_factory of huggingface_hub
  (src/huggingface_hub/serialization/_base.py), transcribed below line by
  line since huggingface_hub is not installed here (no network). Tensors
  iterate in the order given, as a Python dict does.

Nothing here depends on the Go code.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def split_state_dict_into_shards_factory(state_dict, *, get_tensor_size, get_storage_id=lambda t: None,
                                         filename_pattern="model{suffix}.safetensors", max_shard_size=5_000_000_000):
    # Transcribed from huggingface_hub; the bnb-string case left out.
    storage_id_to_tensors = {}
    shard_list = []
    current_shard = {}
    current_shard_size = 0
    total_size = 0
    for key, tensor in state_dict.items():
        storage_id = get_storage_id(tensor)
        if storage_id is not None:
            if storage_id in storage_id_to_tensors:
                storage_id_to_tensors[storage_id].append(key)
                continue
            else:
                storage_id_to_tensors[storage_id] = [key]
        tensor_size = get_tensor_size(tensor)
        if tensor_size > max_shard_size:
            total_size += tensor_size
            shard_list.append({key: tensor})
            continue
        if current_shard_size + tensor_size > max_shard_size:
            shard_list.append(current_shard)
            current_shard = {}
            current_shard_size = 0
        current_shard[key] = tensor
        current_shard_size += tensor_size
        total_size += tensor_size
    if len(current_shard) > 0:
        shard_list.append(current_shard)
    nb_shards = len(shard_list)
    for storage_id, keys in storage_id_to_tensors.items():
        for shard in shard_list:
            if keys[0] in shard:
                for key in keys:
                    shard[key] = state_dict[key]
                break
    if nb_shards == 1:
        filename = filename_pattern.format(suffix="")
        return {"total_size": total_size, "files": [[filename, list(state_dict.keys())]]}
    files = []
    for idx, shard in enumerate(shard_list):
        filename = filename_pattern.format(suffix=f"-{idx+1:05d}-of-{nb_shards:05d}")
        files.append([filename, list(shard.keys())])
    return {"total_size": total_size, "files": files}


def plans():
    # Each case: the limit, and tensors as (name, size, storage id or None).
    cases = {
        "docstring example": (10, [("t0", 6, None), ("t1", 6, None), ("t2", 2, None), ("t3", 6, None), ("t4", 2, None), ("t5", 2, None)]),
        "one shard": (100, [("a", 10, None), ("b", 20, None), ("c", 30, None)]),
        "exact fit": (10, [("a", 4, None), ("b", 6, None), ("c", 10, None), ("d", 1, None)]),
        "too large in the middle": (10, [("a", 3, None), ("big", 25, None), ("b", 4, None), ("c", 5, None)]),
        "too large first and last": (8, [("big1", 9, None), ("a", 8, None), ("big2", 100, None)]),
        "empty tensors": (4, [("a", 4, None), ("e", 0, None), ("b", 1, None), ("f", 0, None)]),
        "many shards": (4, [(f"w{i:02d}", 2, None) for i in range(12)]),
        # Names in sorted order: SaveSharded takes a map and goes through it sorted.
        "shared storage": (10, [("a", 6, None), ("b", 6, "s"), ("c", 2, None), ("d", 6, "s"), ("e", 6, None)]),
        "shared storage, big": (5, [("a", 2, "t"), ("b", 9, "s"), ("c", 2, None), ("d", 9, "s"), ("e", 2, "t")]),
    }
    out = {}
    for name, (limit, tensors) in cases.items():
        state_dict = {n: (size, sid) for n, size, sid in tensors}
        got = split_state_dict_into_shards_factory(
            state_dict, get_tensor_size=lambda t: t[0], get_storage_id=lambda t: t[1], max_shard_size=limit)
        out[name] = {"limit": limit, "tensors": [[n, s, sid] for n, s, sid in tensors], **got}
    return out


def tricky_index():
    names = [
        "model.layers.10.mlp.weight", "model.layers.2.mlp.weight", "lm_head.weight",
        'quote"back\\slash', "tab\tnewline\ncr\rbs\bff\f", "ctl\x01\x1f", "del\x7f", "slash/ok",
        "caf\u00e9", "\u2028line sep", "emoji \U0001F600", "\U00010000 first astral", "\uffff last bmp",
        "", " space", "~tilde", "Zed", "zed", "\u00e9", "e\u0301",
    ]
    weight_map = {n: f"model-{i % 3 + 1:05d}-of-00003.safetensors" for i, n in enumerate(names)}
    index = {"metadata": {"total_parameters": 123456789, "total_size": 7510440576}, "weight_map": weight_map}
    # modeling_utils.py, save_pretrained:
    content = json.dumps(index, indent=2, sort_keys=True) + "\n"
    return content


def main():
    with open(os.path.join(HERE, "index_tricky.json"), "w", encoding="utf-8", newline="") as f:
        f.write(tricky_index())
    with open(os.path.join(HERE, "plans.json"), "w", encoding="utf-8", newline="") as f:
        json.dump(plans(), f, ensure_ascii=True, separators=(",", ": "))
        f.write("\n")


if __name__ == "__main__":
    main()
