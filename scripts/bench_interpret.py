"""Interpretation throughput, genolm vs tangermeme 1.6 (PyPI), in one run, on one CNN.

The CNN: TLVar's shape (configs/cnn-tlvar.toml: 1001 bp, Conv1d(32, 32) + ReLU + MaxPool(4) twice,
Dense 128 -> 64, 2 outputs), trained one epoch by genolm on random data and loaded into an
equivalent torch.nn.Module (flattening channels-last, as genolm and Keras do); the two agree on
every probability (max difference printed). Sequences: random 1001 bp.

ISM (substitutions/s, 3 per base): genolm `interpret ism` (the receptive-field path; `--naive`
predicts every mutant whole) against tangermeme's `saturation_mutagenesis` (target 1, batch 128),
both with fast=True (its fastISM, forced on by setting its 30-second threshold to 0) and
fast=False. Saliency (sequences/s): genolm `interpret saliency --method grad-x-input` against
tangermeme's `saliency` (target 1, batch 128), fp32 and bf16 (genolm `--precision bf16`;
tangermeme `dtype=torch.bfloat16`). genolm is timed as whole commands (start, model load, FASTA
read, TSV written: a row per base, 2M rows for saliency) and, for saliency, also in-process (the
attribution time its run.json records); tangermeme in memory on ready tensors.

Floors (this CPU): FLOP/s of the network's forward pass in PyTorch (best batch) over the FLOPs per
item: a forward per naive substitution; the recomputed windows plus the dense layers per
receptive-field substitution; forward + backward (3 forwards) per saliency sequence.

LSTM: genolm's state-cached ISM against its naive ISM on the primer's ULMFiT classifier (trained
here if missing) and, if present, out/clf-ecoli-promoters-81bp-heldout-naive.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cnn  # noqa: E402

import tangermeme.saturation_mutagenesis as tsm  # noqa: E402
from tangermeme.saliency import saliency as tm_saliency  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/genolm-torch"
SHAPE = bench_cnn.SHAPES["tlvar"]


class Tlvar(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.c1 = nn.Conv1d(4, 32, 32)
        self.c2 = nn.Conv1d(32, 32, 32)
        self.d1 = nn.Linear(1664, 128)
        self.d2 = nn.Linear(128, 64)
        self.out = nn.Linear(64, 2)
        names = {"c1": "conv1.conv", "c2": "conv2.conv", "d1": "dense1.linear", "d2": "dense2.linear", "out": "out"}
        for mine, theirs in names.items():
            getattr(self, mine).weight.data.copy_(w[f"{theirs}.weight"])
            getattr(self, mine).bias.data.copy_(w[f"{theirs}.bias"])

    def forward(self, x):
        x = F.max_pool1d(F.relu(self.c1(x)), 4)
        x = F.max_pool1d(F.relu(self.c2(x)), 4)
        x = x.transpose(1, 2).flatten(1)
        return self.out(F.relu(self.d2(F.relu(self.d1(x)))))


class Probs(nn.Module):
    """The probabilities genolm's ISM reports."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x).softmax(-1)


def fasta_of(path, seqs):
    with open(path, "w") as f:
        for i, s in enumerate(seqs):
            f.write(f">s{i}\n{s}\n")


def one_hot(seqs):
    idx = torch.tensor([["ACGT".index(c) for c in s] for s in seqs])
    return F.one_hot(idx, 4).permute(0, 2, 1).float()


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    return time.perf_counter() - t0


def rf_flops():
    """FLOPs per substitution on the receptive-field path: conv1 over the 32 positions a base
    reaches (9 pooled outputs -> 36 conv positions), conv2 over the windows those reach, dense full."""
    conv1 = 2 * 36 * 32 * 4 * 32
    conv2 = 2 * (9 + 31 + 3) // 4 * 4 * 32 * 32 * 32
    dense = 2 * (1664 * 128 + 128 * 64 + 64 * 2)
    return conv1 + conv2 + dense


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ism-sequences", type=int, default=32)
    ap.add_argument("--saliency-sequences", type=int, default=2048)
    a = ap.parse_args()
    torch.manual_seed(0)
    res = {"torch": torch.__version__, "threads": torch.get_num_threads(), "tangermeme": "1.6.0"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # genolm trains the CNN (1 epoch, random data); PyTorch loads its weights.
        s = dict(SHAPE, n=512)
        table, _ = bench_cnn.write_data(tmp, s)
        model_dir = tmp / "cnn"
        sets = [f"data={{format=\"table\", path={json.dumps(str(table))}}}", "classes=[\"0\", \"1\"]",
                "train.stages=[{epochs=1,lr=1e-3}]", "train.patience=0", "train.rc_augment=false",
                "train.rc_average=false"]
        cmd = [BIN, "cnn", "train", "--config", ROOT / SHAPE["config"], "--out", model_dir, "-q"]
        for kv in sets:
            cmd += ["--set", kv]
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
        net = Tlvar(load_file(str(model_dir / "model.safetensors"))).eval()
        probs = Probs(net).eval()
        g = torch.Generator().manual_seed(1)
        rand = lambda n: ["".join("ACGT"[i] for i in torch.randint(0, 4, (1001,), generator=g).tolist()) for _ in range(n)]
        ism_seqs, sal_seqs = rand(a.ism_sequences), rand(a.saliency_sequences)
        ism_fa, sal_fa, few_fa = tmp / "ism.fa", tmp / "sal.fa", tmp / "few.fa"
        fasta_of(ism_fa, ism_seqs)
        fasta_of(sal_fa, sal_seqs)
        few = ism_seqs[: max(2, a.ism_sequences // 8)]
        fasta_of(few_fa, few)
        # Same model: genolm's probabilities against PyTorch's.
        subprocess.run([str(BIN), "predict", "--model", str(model_dir), "--fasta", str(few_fa), "--out",
                        str(tmp / "p.tsv")], check=True, capture_output=True)
        mine = torch.tensor([[float(v) for v in l.split("\t")[1:3]] for l in (tmp / "p.tsv").read_text().splitlines()[1:]])
        with torch.no_grad():
            theirs = probs(one_hot(few))
        res["max_probability_difference"] = float((mine - theirs).abs().max())
        print(f"same model: max |p_genolm - p_torch| = {res['max_probability_difference']:.2e}", flush=True)

        X_ism, X_few, X_sal = one_hot(ism_seqs), one_hot(few), one_hot(sal_seqs)
        n_subs, n_few = 3 * 1001 * len(ism_seqs), 3 * 1001 * len(few)
        runs = {k: [] for k in ["genolm_ism", "genolm_ism_naive", "tangermeme_ism_fast", "tangermeme_ism",
                                "genolm_saliency", "genolm_saliency_compute", "tangermeme_saliency",
                                "genolm_saliency_bf16", "genolm_saliency_compute_bf16",
                                "tangermeme_saliency_bf16"]}
        tsm._FAST_MIN_SECONDS = 0.0  # tangermeme's fastISM for any job size: its best
        for r in range(a.repeats):
            out = tmp / "o"
            base = [BIN, "interpret", "ism", "--model", model_dir, "--out", out, "--force", "--max-plots", "0"]
            runs["genolm_ism"].append(n_subs / timed(base + ["--fasta", ism_fa]))
            runs["genolm_ism_naive"].append(n_few / timed(base + ["--fasta", few_fa, "--naive"]))
            t0 = time.perf_counter()
            tsm.saturation_mutagenesis(probs, X_ism, batch_size=128, target=1, device="cpu", fast=True)
            runs["tangermeme_ism_fast"].append(n_subs / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            tsm.saturation_mutagenesis(probs, X_few, batch_size=128, target=1, device="cpu", fast=False)
            runs["tangermeme_ism"].append(n_few / (time.perf_counter() - t0))
            for prec, suffix, dtype in (("fp32", "", None), ("bf16", "_bf16", torch.bfloat16)):
                n = len(sal_seqs)
                runs["genolm_saliency" + suffix].append(n / timed(
                    [BIN, "interpret", "saliency", "--model", model_dir, "--fasta", sal_fa, "--out", out,
                     "--force", "--max-plots", "0", "--method", "grad-x-input", "--precision", prec]))
                run = json.loads((out / "run.json").read_text())
                runs["genolm_saliency_compute" + suffix].append(run["compute_sequences_per_s"])
                t0 = time.perf_counter()
                tm_saliency(net, X_sal, target=1, batch_size=128, device="cpu", dtype=dtype)
                runs["tangermeme_saliency" + suffix].append(n / (time.perf_counter() - t0))
            print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in runs.items()), flush=True)
        med = {k: statistics.median(v) for k, v in runs.items()}
        rate = bench_cnn.conv_rate(SHAPE)
        fwd = bench_cnn.forward_flops(SHAPE)
        res.update({k: round(v, 1) for k, v in med.items()})
        res.update({
            "ism_ratio_vs_tangermeme_fast": round(med["genolm_ism"] / med["tangermeme_ism_fast"], 2),
            "ism_ratio_vs_tangermeme": round(med["genolm_ism"] / med["tangermeme_ism"], 2),
            "ism_ratio_vs_genolm_naive": round(med["genolm_ism"] / med["genolm_ism_naive"], 2),
            "saliency_ratio_fp32": round(med["genolm_saliency"] / med["tangermeme_saliency"], 2),
            "saliency_ratio_bf16": round(med["genolm_saliency_bf16"] / med["tangermeme_saliency_bf16"], 2),
            "saliency_compute_ratio_fp32": round(med["genolm_saliency_compute"] / med["tangermeme_saliency"], 2),
            "saliency_compute_ratio_bf16": round(med["genolm_saliency_compute_bf16"] / med["tangermeme_saliency_bf16"], 2),
            "forward_gflops_this_cpu": round(rate / 1e9, 1),
            "floor_ism_naive_per_s": round(rate / fwd),
            "floor_ism_receptive_field_per_s": round(rate / rf_flops()),
            "floor_saliency_fp32_per_s": round(rate / (3 * fwd)),
            "runs": runs,
        })
        print(f"ISM: genolm {med['genolm_ism']:.0f}/s vs tangermeme fastISM {med['tangermeme_ism_fast']:.0f}/s "
              f"({res['ism_ratio_vs_tangermeme_fast']:.2f}x) and plain {med['tangermeme_ism']:.0f}/s "
              f"({res['ism_ratio_vs_tangermeme']:.2f}x); genolm naive {med['genolm_ism_naive']:.0f}/s "
              f"({res['ism_ratio_vs_genolm_naive']:.2f}x); floors: naive {res['floor_ism_naive_per_s']}/s, "
              f"receptive field {res['floor_ism_receptive_field_per_s']}/s")
        print(f"saliency fp32: genolm {med['genolm_saliency']:.0f} (command; in-process "
              f"{med['genolm_saliency_compute']:.0f}) vs tangermeme {med['tangermeme_saliency']:.0f} seq/s "
              f"({res['saliency_ratio_fp32']:.2f}x; in-process {res['saliency_compute_ratio_fp32']:.2f}x; floor "
              f"{res['floor_saliency_fp32_per_s']}/s); bf16: genolm {med['genolm_saliency_bf16']:.0f} (in-process "
              f"{med['genolm_saliency_compute_bf16']:.0f}) vs {med['tangermeme_saliency_bf16']:.0f} "
              f"({res['saliency_ratio_bf16']:.2f}x; in-process {res['saliency_compute_ratio_bf16']:.2f}x)", flush=True)
        res["lstm"] = lstm_ism(tmp, a.repeats)
    (ROOT / "out/bench/interpret.json").write_text(json.dumps(res, indent=1))


def lstm_ism(tmp, repeats):
    """State-cached against naive ISM for k-mer LSTM classifiers (genolm only: no peer has one)."""
    out = {}
    primer = ROOT / "../shared/data/deep-learning-genomics-primer"
    models = {}
    clf = ROOT / "out/clf-primer-motif"
    if not (clf / "model.safetensors").exists() and primer.is_dir():
        subprocess.run([str(BIN), "classify", "train", "--config", str(ROOT / "configs/primer-motif.toml")],
                       check=True, capture_output=True)
    if primer.is_dir():
        seqs = open(primer / "sequences.txt").read().split()[:100]
        models["primer (k3/s1, 2x128 LSTM, 50 bp)"] = (clf, seqs)
    heldout = ROOT / "out/clf-ecoli-promoters-81bp-heldout-naive"
    prom = ROOT / "../shared/data/CNNPromoterData/Ecoli_prom.fa"
    if (heldout / "model.safetensors").exists() and prom.exists():
        text = prom.read_text().split(">")[1:41]
        seqs = ["".join(r.splitlines()[1:]) for r in text]
        models["81 bp promoters (k5/s2, 2x512 LSTM)"] = (heldout, [s for s in seqs if len(s) == 81])
    for name, (model, seqs) in models.items():
        fa = tmp / "lstm.fa"
        fasta_of(fa, seqs)
        n = 3 * sum(len(s) for s in seqs)
        base = [BIN, "interpret", "ism", "--model", model, "--fasta", fa, "--out", tmp / "l", "--force",
                "--max-plots", "0"]
        cached = [n / timed(base) for _ in range(repeats)]
        naive = [n / timed(base + ["--naive"]) for _ in range(repeats)]
        r = {"cached": round(statistics.median(cached)), "naive": round(statistics.median(naive))}
        r["ratio"] = round(r["cached"] / r["naive"], 2)
        out[name] = r
        print(f"LSTM ISM, {name}: state cache {r['cached']}/s vs naive {r['naive']}/s ({r['ratio']:.2f}x)", flush=True)
    return out


if __name__ == "__main__":
    main()
