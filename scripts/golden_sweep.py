#!/usr/bin/python3
"""Regenerates the golden sweep (tests/data/golden-sweep; docs/GOLDEN.md says how to add a config).

    scripts/golden_sweep.py [--engine build/dsagent] [--only NAME ...] [--generator DIR]

For every configuration of tests/data/golden-sweep/sweep.json and every seed:
  1. its base config (base-config.json unless it names another) with its `set` applied (a null
     value removes the key);
  2. `dsagent engine synth --values varied --seed SEED` writes the checkpoint (deterministic: the
     test regenerates it in-process and checks its SHA-256, so the weights are not committed);
  3. tokens: BOS (0), then ids drawn uniformly from [2, vocab) by numpy's default_rng(SEED);
  4. the shared golden generator (../shared/golden/generator/gen_golden.py: the official model.py,
     canonical convention) computes the full-prefill, prefill-part, decode and MTP logits;
  5. <name>-s<seed>/ gets config.json, tokens.i32, the four logits files and manifest.json (the
     generator's, without the layer streams, plus the checkpoint's SHA-256 and how it was made).
Needs Debian's python3-torch and python3-numpy (/usr/bin/python3) and a built dsagent.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, "tests", "data", "golden-sweep")
# The generator's manifest keys kept, and the file each is stored as.
KEEP = {"tokens": "tokens.i32", "prefill_full_logits": "prefill_full_logits.f32",
        "prefill300_logits": "prefill_part_logits.f32", "decode_logits": "decode_logits.f32",
        "mtp_logits": "mtp_logits.f32"}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def apply(base, changes):
    cfg = dict(base)
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p.stdout


def make_set(engine, generator, base, entry, seed, out_dir):
    with tempfile.TemporaryDirectory() as tmp:
        base_path = os.path.join(tmp, "base-config.json")
        with open(base_path, "w") as f:
            json.dump(apply(base, entry["set"]), f, indent=2)
        model = os.path.join(tmp, "model")
        run([engine, "engine", "synth", "--config", base_path, "--out", model, "--seed", str(seed),
             "--values", "varied", "--threads", "1"])
        with open(os.path.join(model, "config.json")) as f:
            vocab = json.load(f)["vocab_size"]
        rng = np.random.default_rng(seed)
        tokens = np.concatenate([[0], rng.integers(2, vocab, entry["tokens"] - 1)]).astype("<i4")
        tokens_path = os.path.join(tmp, "tokens.i32")
        tokens.tofile(tokens_path)
        gen = os.path.join(tmp, "golden")
        print(run([sys.executable, os.path.join(generator, "gen_golden.py"), model, tokens_path, gen,
                   "--prefill-part", str(entry["prefill_part"]), "--names", "generic"]).strip()
              .splitlines()[-1])
        with open(os.path.join(gen, "manifest.json")) as f:
            manifest = json.load(f)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        manifest["files"] = {k: v for k, v in manifest["files"].items() if k in KEEP}
        for key, item in manifest["files"].items():
            shutil.copy(os.path.join(gen, item["file"]), os.path.join(out_dir, KEEP[key]))
            item["file"] = KEEP[key]
        shutil.copy(os.path.join(model, "config.json"), os.path.join(out_dir, "config.json"))
        weights = os.path.join(model, "model.safetensors")
        manifest.pop("inference_config", None)
        manifest["weights"] = {
            "made_by": f"dsagent engine synth --config config.json --seed {seed} --values varied",
            "seed": seed, "values": "varied", "bytes": os.path.getsize(weights),
            "sha256": sha256(weights)}
        manifest["prefill_part"] = entry["prefill_part"]
        with open(os.path.join(out_dir, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default=os.path.join(ROOT, "build", "dsagent"))
    ap.add_argument("--generator", default=os.path.join(ROOT, "..", "shared", "golden", "generator"))
    ap.add_argument("--only", nargs="*", help="configuration names (default: all)")
    a = ap.parse_args()
    with open(os.path.join(SWEEP, "sweep.json")) as f:
        sweep = json.load(f)
    for entry in sweep["configs"]:
        if a.only and entry["name"] not in a.only:
            continue
        with open(os.path.join(SWEEP, entry.get("base", sweep["base"]))) as f:
            base = json.load(f)
        for seed in entry.get("seeds", sweep["seeds"]):
            name = f"{entry['name']}-s{seed}"
            print(f"{name}: ", end="", flush=True)
            make_set(a.engine, a.generator, base, entry, seed, os.path.join(SWEEP, name))


if __name__ == "__main__":
    main()
