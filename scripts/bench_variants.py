"""Variant-effect scoring throughput, genolm vs tangermeme, in one run, and agreement of the scores.

Model: a genolm CNN directory (default out/cnn-tlvar-generic-chr20, the generic chr20 base of
scripts/reproduce-tlvar.sh: 1001 bp, two Conv1d(32, 32) + BatchNorm + ReLU + MaxPool(4), global max,
Dense 128 -> 64 -> 2; its predictions average both strands). PyTorch side: the same layers as an
nn.Module with genolm's weights loaded from model.safetensors, strand-averaged the same way, scored
through tangermeme's own `variant_effect.substitution_effect` (PyPI), which returns the predictions
before and after each substitution. Variants: the SNVs of a VCF (default the 24,990 1000 Genomes
chr20 SNVs). genolm: `variants score --strand plus --json` timed as a whole (VCF parsing, bgzf
genome reads, windows, both alleles, scores, TSV written). tangermeme: timed from the windows'
one-hot encoding to its result; the windows themselves come from `genolm variants windows`, untimed
(the peer has no VCF-to-window step of its own), so the comparison favours the peer.
Agreement: max |p_genolm - p_tangermeme| over ref and alt probabilities of the positive class.
Floor: every variant needs 2 windows x 2 strands of forward passes; the best fp32 rate of this
network's forward pass on this CPU (PyTorch, batch sizes 32-512) bounds variants/s from above.
Precisions: fp32 and bf16 (genolm --precision bf16; the PyTorch model converted to bf16 for
tangermeme), each against the peer at the same precision and against the peer in fp32; bf16 is
only worth it on a CPU with native bf16 (`genolm info`), elsewhere it is emulated and slower.
Usage: scripts/bench-variants.sh [--model DIR] [--vcf FILE] [--n N] [--repeats R] [--precisions fp32 bf16]
Results: out/bench/variants.json
"""
import argparse
import json
import platform
import statistics
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
from tangermeme.variant_effect import substitution_effect

ROOT = Path(__file__).resolve().parent.parent
TORCH_BIN = ROOT / "target/release/genolm-torch"
DATA = ROOT.parent / "shared/data"


def read_safetensors(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        a, b = t["data_offsets"]
        buf = bytearray(raw[8 + n + a:8 + n + b])
        out[name] = torch.frombuffer(buf, dtype=torch.float32).reshape(t["shape"]).clone()
    return out


class GenolmCnn(nn.Module):
    """genolm's CNN (conv blocks with optional BatchNorm, ReLU, max-pool; a global max or channels-last
    flatten; ReLU dense layers; a linear output), from its config.json and weights."""

    def __init__(self, model_dir):
        super().__init__()
        spec = json.loads((Path(model_dir) / "config.json").read_text())
        cfg = spec["model"]
        self.reduce = cfg.get("reduce", "flatten")
        self.rc_average = spec["config"]["train"].get("rc_average", True)
        w = read_safetensors(Path(model_dir) / "model.safetensors")
        self.convs = nn.ModuleList()
        self.pools = []
        for i, c in enumerate(cfg["conv"], 1):
            assert c.get("activation", "relu") == "relu" and c.get("stride", 1) == 1
            assert c.get("dilation", 1) == 1 and c.get("padding", "valid") == "valid"
            conv = nn.Conv1d(w[f"conv{i}.conv.weight"].shape[1], c["filters"], c["kernel"])
            conv.weight.data, conv.bias.data = w[f"conv{i}.conv.weight"], w[f"conv{i}.conv.bias"]
            block = [conv]
            if c.get("batch_norm", False):
                bn = nn.BatchNorm1d(c["filters"])
                for p in ("weight", "bias", "running_mean", "running_var"):
                    getattr(bn, p).data = w[f"conv{i}.bn.{p}"]
                block.append(bn)
            block.append(nn.ReLU())
            if c.get("pool", 1) > 1:
                block.append(nn.MaxPool1d(c["pool"]))
            self.convs.append(nn.Sequential(*block))
        layers = []
        for j, d in enumerate(cfg.get("dense", []), 1):
            assert d.get("activation", "relu") == "relu" and not d.get("batch_norm", False)
            lin = nn.Linear(w[f"dense{j}.linear.weight"].shape[1], d["units"])
            lin.weight.data, lin.bias.data = w[f"dense{j}.linear.weight"], w[f"dense{j}.linear.bias"]
            layers += [lin, nn.ReLU()]
        out = nn.Linear(w["out.weight"].shape[1], w["out.weight"].shape[0])
        out.weight.data, out.bias.data = w["out.weight"], w["out.bias"]
        self.dense = nn.Sequential(*layers, out)
        self.eval()

    def one_strand(self, x):
        for block in self.convs:
            x = block(x)
        x = x.amax(2) if self.reduce == "global_max" else x.transpose(1, 2).flatten(1)
        return self.dense(x).softmax(-1)

    def forward(self, x):
        p = self.one_strand(x)
        if self.rc_average:
            # One-hot A, C, G, T: the reverse complement flips both the channels and the positions.
            p = (p + self.one_strand(x.flip([1, 2]))) / 2
        return p


def one_hot(seqs):
    codes = torch.full((256,), 4, dtype=torch.long)
    for i, b in enumerate(b"ACGT"):
        codes[b] = i
        codes[ord(chr(b).lower())] = i
    idx = codes[torch.frombuffer(bytearray("".join(seqs).encode()), dtype=torch.uint8).long()]
    x = torch.zeros(len(seqs) * len(seqs[0]), 5)
    x[torch.arange(len(idx)), idx] = 1.0
    # N (index 4) is all zeros, as genolm's default n_encoding.
    return x[:, :4].reshape(len(seqs), len(seqs[0]), 4).permute(0, 2, 1).contiguous()


def forward_rate(model, length, dtype=torch.float32, reps=10):
    """Windows/s of one strand's forward pass, the best over batch sizes (this CPU's rate; warmed
    up first: oneDNN builds its kernels on a shape's first calls)."""
    best = 0.0
    for bs in (32, 64, 128, 256, 512):
        x = one_hot(["ACGT" * (length // 4) + "A" * (length % 4)] * bs).to(dtype)
        with torch.no_grad():
            for _ in range(3):
                model.one_strand(x)
            t0 = time.perf_counter()
            for _ in range(reps):
                model.one_strand(x)
            best = max(best, reps * bs / (time.perf_counter() - t0))
    return best


class Bf16(nn.Module):
    """The model computed in bf16 (weights converted once), one-hot in and probabilities out in
    fp32: what genolm's --precision bf16 does, as PyTorch users write it."""

    def __init__(self, model):
        super().__init__()
        self.inner = model.to(torch.bfloat16)

    def one_strand(self, x):
        return self.inner.one_strand(x.to(torch.bfloat16)).float()

    def forward(self, x):
        return self.inner(x.to(torch.bfloat16)).float()


def snv_windows(vcf, genome, flank, n, tmp):
    """Ref windows and substitutions of the first n SNVs (multi-allelic records split)."""
    prefix = tmp / "w"
    subprocess.run([str(TORCH_BIN.with_name("genolm")), "variants", "windows", "--variants", str(vcf),
                    "--genome", str(genome), "--flank", str(flank), "--out", str(prefix)],
                   check=True, capture_output=True)
    rows = []
    with open(f"{prefix}.tsv") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = {c: i for i, c in enumerate(header)}
        for line in f:
            r = line.rstrip("\n").split("\t")
            if len(r[col["ref"]]) == 1 and len(r[col["alt"]]) == 1 and r[col["alt"]] in "ACGT":
                rows.append((r[col["chrom"]], int(r[col["pos"]]), r[col["ref"]], r[col["alt"]],
                             r[col["sequence"]]))
            if len(rows) == n:
                break
    return rows


def subset_vcf(vcf, rows, tmp):
    """A VCF of exactly the benchmarked SNVs (genolm scores what tangermeme scores)."""
    keep = {(c, p, r, a) for c, p, r, a, _ in rows}
    out = tmp / "bench.vcf"
    opener = subprocess.run(["gzip", "-dc", str(vcf)], check=True, capture_output=True, text=True).stdout
    with open(out, "w") as f:
        for line in opener.splitlines(keepends=True):
            if line.startswith("#"):
                f.write(line)
                continue
            t = line.split("\t", 8)
            alts = [a for a in t[4].split(",") if (t[0], int(t[1]), t[3], a) in keep]
            if alts:
                t[4] = ",".join(alts)
                f.write("\t".join(t))
    return out


def genolm_run(model, vcf, genome, tmp, run, precision):
    out = tmp / f"effects{run}-{precision}.tsv"
    t0 = time.perf_counter()
    p = subprocess.run([str(TORCH_BIN), "variants", "score", "--model", str(model), "--vcf", str(vcf),
                        "--genome", str(genome), "--strand", "plus", "--precision", precision,
                        "--out", str(out), "--json"],
                       check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    scores = {}
    with open(out) as f:
        header = f.readline().rstrip("\n").split("\t")
        col = {c: i for i, c in enumerate(header)}
        for line in f:
            r = line.rstrip("\n").split("\t")
            key = (r[col["chrom"]], int(r[col["pos"]]), r[col["ref"]], r[col["alt"]])
            scores[key] = (float(r[col["p_ref"]]), float(r[col["p_alt"]]))
    return wall, summary, scores


def tangermeme_run(model, rows, flank, batch_size):
    t0 = time.perf_counter()
    x = one_hot([r[4] for r in rows])
    subs = torch.tensor([[i, flank, "ACGT".index(r[3])] for i, r in enumerate(rows)])
    res = substitution_effect(model, x, subs, batch_size=batch_size, device="cpu", verbose=False)
    wall = time.perf_counter() - t0
    return wall, res.y_before[:, 1].double(), res.y_after[:, 1].double()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "out/cnn-tlvar-generic-chr20"))
    ap.add_argument("--vcf", default=str(DATA / "human_grch37_chr20/variants_1000g/reference.vcf.gz"))
    ap.add_argument("--genome", default=str(DATA / "human_grch37_chr20/20.fa.gz"))
    ap.add_argument("--n", type=int, default=0, help="first N SNVs (0: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"],
                    help="bf16 only counts on a CPU with native bf16 (genolm info)")
    a = ap.parse_args()
    if not (Path(a.model) / "model.safetensors").exists():
        raise SystemExit(f"{a.model}: no CNN there; scripts/reproduce-tlvar.sh trains it")
    info = json.loads(subprocess.run([str(TORCH_BIN), "info", "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    models = {"fp32": GenolmCnn(a.model), "bf16": Bf16(GenolmCnn(a.model))}
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    spec = json.loads((Path(a.model) / "config.json").read_text())
    length = spec["model"]["input_len"]
    flank = (length - 1) // 2
    strands = 2 if models["fp32"].rc_average else 1
    results = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "bf16": info.get("bf16"), "model": a.model,
               "vcf": a.vcf}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = snv_windows(a.vcf, a.genome, flank, a.n or 10**12, tmp)
        vcf = subset_vcf(a.vcf, rows, tmp)
        runs = {f"{tool}_{p}_s": [] for p in a.precisions for tool in ("genolm", "tangermeme")}
        scores, peer = {}, {}
        for r in range(a.repeats):
            for p in a.precisions:
                g_wall, summary, scores[p] = genolm_run(a.model, vcf, a.genome, tmp, r, p)
                t_wall, before, after = tangermeme_run(models[p], rows, flank, a.batch_size)
                peer[p] = (before, after)
                runs[f"genolm_{p}_s"].append(g_wall)
                runs[f"tangermeme_{p}_s"].append(t_wall)

        def max_diff(g, t):
            before, after = peer[t]
            d = 0.0
            for i, (c, pos, ref, alt, _) in enumerate(rows):
                g_ref, g_alt = scores[g][(c, pos, ref, alt)]
                d = max(d, abs(g_ref - before[i].item()), abs(g_alt - after[i].item()))
            return d

        n = len(rows)
        med = {k: statistics.median(v) for k, v in runs.items()}
        results.update({"variants": n, "runs": runs})
        base = med[f"tangermeme_{a.precisions[0]}_s"]
        for p in a.precisions:
            rate = forward_rate(models[p], length, dtypes[p])
            results[p] = {
                "genolm_variants_per_s": round(n / med[f"genolm_{p}_s"], 1),
                "tangermeme_variants_per_s": round(n / med[f"tangermeme_{p}_s"], 1),
                "ratio_same_precision": round(med[f"tangermeme_{p}_s"] / med[f"genolm_{p}_s"], 3),
                f"ratio_vs_tangermeme_{a.precisions[0]}": round(base / med[f"genolm_{p}_s"], 3),
                "max_abs_prob_diff_same_precision": max_diff(p, p),
                f"max_abs_prob_diff_vs_tangermeme_{a.precisions[0]}": max_diff(p, a.precisions[0]),
                "floor_variants_per_s": round(rate / (2 * strands), 1),
                "forward_windows_per_s_this_cpu": round(rate, 1),
            }
            q = results[p]
            print(f"variants score {p}: {n} SNVs, genolm {q['genolm_variants_per_s']:.0f} variants/s vs "
                  f"tangermeme {q['tangermeme_variants_per_s']:.0f} ({q['ratio_same_precision']:.2f}x; "
                  f"{q[f'ratio_vs_tangermeme_{a.precisions[0]}']:.2f}x against tangermeme "
                  f"{a.precisions[0]}); scores agree within "
                  f"{q['max_abs_prob_diff_same_precision']:.2e} (against {a.precisions[0]}: "
                  f"{q[f'max_abs_prob_diff_vs_tangermeme_{a.precisions[0]}']:.2e}); floor "
                  f"{q['floor_variants_per_s']:.0f} variants/s ({rate:.0f} one-strand windows/s "
                  f"forward, x2 alleles x{strands} strands)")
    out = ROOT / "out/bench/variants.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
