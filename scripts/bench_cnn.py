"""One-hot CNN throughput, genolm vs PyTorch, in one run: training and prediction, fp32 or bf16.

Shapes: configs/cnn-tlvar.toml (1001 bp; two Conv1d(32, 32) + MaxPool(4), Dense 128 -> 64, batch
128) and configs/cnn-basset-tf.toml (200 bp; conv 100x19, 200x7, 200x4 with BatchNorm + ReLU +
MaxPool(3), two Dense 1000 with BatchNorm, batch 100), 2 outputs. Data: N random sequences with
random labels (values do not change the work). PyTorch side: the same layers as nn.Sequential,
trained as genolm trains (cross-entropy, Adam 1e-3 with betas 0.9/0.999, eps 1e-7), timed after 3
warm-up steps; prediction: softmax of batches under no_grad, from cold, two ways: the forward
loop over one pre-built one-hot tensor (against genolm's compute_sequences_per_s: one-hot built
per batch, forward, probabilities copied out) and FASTA to TSV (the same FASTA read and one-hot
encoded with numpy, the table written; against genolm's sequences_per_s, the whole `predict`
run). genolm: `cnn train --json` (train_sequences_per_s, steps after the first 3;
reverse-complement augmentation off, as PyTorch has none) and `predict --json` (strand averaging
off). `--precision bf16`: genolm's
`train.precision = "bf16"` / `predict --precision bf16` (bf16 compute, fp32 master weights) against
PyTorch under `torch.autocast("cpu", dtype=torch.bfloat16)`, the same recipe; only meaningful on a
CPU with native bf16 (genolm info), elsewhere bf16 is emulated and slower than fp32.
Floor: the rate of the network's own forward pass at that precision on this CPU (PyTorch, best over
batch sizes 32-512), with forward + backward counted as 3 forwards; a run's fraction of it is its
FLOPs per sequence x sequences/s over that rate.
Usage: scripts/bench-cnn.sh [--repeats N] [--precision fp32|bf16]: N interleaved runs per case,
medians reported; results in out/bench/cnn.json (fp32) or out/bench/cnn-bf16.json.
"""
import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
TORCH_BIN = ROOT / "target/release/genolm-torch"
WARMUP = 3
PRECISION = "fp32"


def autocast():
    """PyTorch's mixed precision at the benchmark's precision (a no-op in fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=PRECISION == "bf16")

SHAPES = {
    "tlvar": dict(config="configs/cnn-tlvar.toml", length=1001, batch=128, n=2048,
                  conv=[(32, 32, 4, False), (32, 32, 4, False)], dense=[(128, False), (64, False)]),
    "basset-tf": dict(config="configs/cnn-basset-tf.toml", length=200, batch=100, n=2000,
                      conv=[(100, 19, 3, True), (200, 7, 3, True), (200, 4, 3, True)],
                      dense=[(1000, True), (1000, True)]),
}


def torch_model(s):
    torch.manual_seed(0)
    layers, ch, length = [], 4, s["length"]
    for filters, kernel, pool, bn in s["conv"]:
        layers.append(nn.Conv1d(ch, filters, kernel))
        if bn:
            layers.append(nn.BatchNorm1d(filters))
        layers += [nn.ReLU(), nn.MaxPool1d(pool)]
        ch, length = filters, (length - kernel + 1) // pool
    # genolm flattens channels-last (Keras' order); the work is the same.
    layers.append(nn.Flatten())
    width = ch * length
    for units, bn in s["dense"]:
        layers.append(nn.Linear(width, units))
        if bn:
            layers.append(nn.BatchNorm1d(units))
        layers += [nn.ReLU(), nn.Dropout(0.5)]
        width = units
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def forward_flops(s):
    """Multiply-adds x 2 of the convolutions and dense layers, per sequence."""
    flops, ch, length = 0, 4, s["length"]
    for filters, kernel, pool, _ in s["conv"]:
        out = length - kernel + 1
        flops += 2 * out * filters * ch * kernel
        ch, length = filters, out // pool
    width = ch * length
    for units, _ in s["dense"]:
        flops += 2 * width * units
        width = units
    return flops + 2 * width * 2


def one_hot(n, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    return F.one_hot(idx, 4).permute(0, 2, 1).float()


def torch_train_per_s(s, steps):
    model = torch_model(s).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    bs = s["batch"]
    x = one_hot(bs * 4, s["length"])
    elapsed = 0.0
    for step in range(steps + WARMUP):
        xb = x[(step % 4) * bs:(step % 4 + 1) * bs]
        y = torch.randint(0, 2, (bs,))
        t0 = time.perf_counter()
        with autocast():
            logits = model(xb)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= WARMUP:
            elapsed += time.perf_counter() - t0
    return steps * bs / elapsed


def torch_predict_per_s(s, n):
    model = torch_model(s).eval()
    x = one_hot(n, s["length"])
    with torch.no_grad(), autocast():
        t0 = time.perf_counter()
        for i in range(0, n, 64):
            model(x[i:i + 64]).float().softmax(-1)
        return n / (time.perf_counter() - t0)


def torch_predict_file_per_s(s, fasta, out):
    """FASTA to TSV as a PyTorch user's script does it: read the FASTA, one-hot encode it with a
    numpy lookup table (N and others all-zero, as genolm), softmax of batches of 64, write id,
    probabilities and the predicted class."""
    import numpy as np
    model = torch_model(s).eval()
    table = np.zeros((256, 4), dtype=np.float32)
    for i, b in enumerate(b"ACGT"):
        table[b, i] = table[b + 32, i] = 1.0
    with torch.no_grad(), autocast():
        t0 = time.perf_counter()
        ids, seqs = [], []
        with open(fasta, "rb") as f:
            for line in f:
                if line.startswith(b">"):
                    ids.append(line[1:].split()[0].decode())
                    seqs.append([])
                else:
                    seqs[-1].append(line.strip())
        codes = np.frombuffer(b"".join(b"".join(p) for p in seqs), dtype=np.uint8).reshape(len(ids), -1)
        x = torch.from_numpy(table[codes]).permute(0, 2, 1)
        probs = torch.cat([model(x[i:i + 64]).float().softmax(-1) for i in range(0, len(ids), 64)]).numpy()
        with open(out, "w") as f:
            f.write("id\tp_0\tp_1\tpredicted\n")
            for i, p in zip(ids, probs):
                f.write(f"{i}\t{p[0]:.6g}\t{p[1]:.6g}\t{int(p[1] > p[0])}\n")
        return len(ids) / (time.perf_counter() - t0)


def conv_rate(s):
    """fp32 FLOP/s of the network's forward pass in PyTorch, the best over batch sizes 32-512 (the
    CPU's rate for these layers; dense layers and pooling included, as in a real step)."""
    model = torch_model(s).eval()
    best = 0.0
    for bs in (32, 64, 128, 256, 512):
        x = one_hot(bs, s["length"])
        with torch.no_grad(), autocast():
            for _ in range(3):
                model(x)
            t0 = time.perf_counter()
            for _ in range(5):
                model(x)
            sec = (time.perf_counter() - t0) / 5
        best = max(best, forward_flops(s) * bs / sec)
    return best


def write_data(tmp, s):
    seqs = "".join("ACGT"[i] for i in torch.randint(0, 4, (s["n"] * s["length"],)).tolist())
    labels = torch.randint(0, 2, (s["n"],)).tolist()
    table = tmp / "data.tsv"
    with open(table, "w") as f:
        f.write("sequence\tlabel\n")
        for i in range(s["n"]):
            f.write(f"{seqs[i * s['length']:(i + 1) * s['length']]}\t{labels[i]}\n")
    fasta = tmp / "data.fa"
    with open(fasta, "w") as f:
        for i in range(s["n"]):
            f.write(f">s{i}\n{seqs[i * s['length']:(i + 1) * s['length']]}\n")
    return table, fasta


def genolm_rates(s, tmp, run):
    table, fasta = write_data(tmp, s)
    out = tmp / f"model{run}"
    # The whole [data] table replaced: the Basset-TF config reads a multi-label table; the bench
    # times the same network with a binary head.
    sets = [f"data={{format=\"table\", path={json.dumps(str(table))}}}", "classes=[\"0\", \"1\"]", "split.valid_frac=0.05",
            "split.test_frac=0.05", "train.stages=[{epochs=2,lr=1e-3}]", "train.patience=0",
            "train.rc_augment=false", "train.rc_average=false", f"train.precision=\"{PRECISION}\""]
    cmd = [str(TORCH_BIN), "cnn", "train", "--config", str(ROOT / s["config"]), "--out", str(out), "--json", "-q"]
    for kv in sets:
        cmd += ["--set", kv]
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    p = subprocess.run([str(TORCH_BIN), "predict", "--model", str(out), "--fasta", str(fasta), "--out",
                        str(tmp / "p.tsv"), "--json", "--batch-size", "64", "--precision", PRECISION],
                       check=True, capture_output=True, text=True)
    pred = json.loads(p.stdout.strip().splitlines()[-1])
    return r["train_sequences_per_s"], pred["sequences_per_s"], pred["compute_sequences_per_s"], fasta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    a = ap.parse_args()
    global PRECISION
    PRECISION = a.precision
    torch.set_num_threads(torch.get_num_threads())
    results = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "precision": PRECISION, "shapes": {}}
    for name, s in SHAPES.items():
        runs = {k: [] for k in ("genolm_train", "torch_train", "genolm_predict", "torch_predict",
                                "genolm_predict_file", "torch_predict_file")}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(a.repeats):
                g_train, g_file, g_pred, fasta = genolm_rates(s, Path(tmp), r)
                runs["genolm_train"].append(g_train)
                runs["genolm_predict"].append(g_pred)
                runs["genolm_predict_file"].append(g_file)
                steps = (s["n"] * 9 // 10) // s["batch"] * 2 - WARMUP
                runs["torch_train"].append(torch_train_per_s(s, max(steps, 8)))
                runs["torch_predict"].append(torch_predict_per_s(s, s["n"]))
                runs["torch_predict_file"].append(torch_predict_file_per_s(s, fasta, Path(tmp) / "t.tsv"))
        rate = conv_rate(s)
        fl = forward_flops(s)
        med = {k: statistics.median(v) for k, v in runs.items()}
        res = {
            **{k: round(v, 1) for k, v in med.items()},
            "train_ratio": round(med["genolm_train"] / med["torch_train"], 3),
            "predict_ratio": round(med["genolm_predict"] / med["torch_predict"], 3),
            "predict_file_ratio": round(med["genolm_predict_file"] / med["torch_predict_file"], 3),
            "forward_mflop_per_seq": round(fl / 1e6, 2),
            "forward_gflops_this_cpu": round(rate / 1e9, 1),
            "genolm_train_fraction_of_floor": round(med["genolm_train"] * 3 * fl / rate, 3),
            "genolm_predict_fraction_of_floor": round(med["genolm_predict"] * fl / rate, 3),
            "runs": runs,
        }
        results["shapes"][name] = res
        print(f"{name} ({PRECISION}): train genolm {res['genolm_train']:.0f} vs torch {res['torch_train']:.0f} seq/s "
              f"({res['train_ratio']:.2f}x); predict genolm {res['genolm_predict']:.0f} vs torch "
              f"{res['torch_predict']:.0f} seq/s ({res['predict_ratio']:.2f}x; forward loops), FASTA to TSV "
              f"{res['genolm_predict_file']:.0f} vs {res['torch_predict_file']:.0f} ({res['predict_file_ratio']:.2f}x); floor: "
              f"{res['forward_gflops_this_cpu']} GFLOP/s forward, genolm train at "
              f"{res['genolm_train_fraction_of_floor']:.0%} of it, predict at "
              f"{res['genolm_predict_fraction_of_floor']:.0%}", flush=True)
    name = "cnn.json" if PRECISION == "fp32" else f"cnn-{PRECISION}.json"
    (ROOT / "out/bench" / name).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
