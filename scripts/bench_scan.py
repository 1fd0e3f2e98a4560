"""Scan throughput (windows/s): `genolm scan` against a batched PyTorch sliding-window loop with the same
weights, in one run, on the bundled E. coli K-12 genome.

The PyTorch side is what a user writes today: fastai's get_text_classifier(AWD_LSTM, ...) holding the
genolm classifier's weights (scripts/genolm_fastai.py), the FASTA read, windows cut on the same grid
(start, start + step, ..., the last one right-aligned), k-mers tokenized with Hugging Face `tokenizers`
(encode_batch), every k-mer frame predicted in batches of 64 under no_grad (bf16: torch.autocast) and
averaged, per-base means of the covering windows accumulated and written as bedGraph. Timed from
reading the FASTA to the closed bedGraph, as `genolm scan --no-bigwig` is (its own summary `seconds`,
process start-up excluded on both sides). The two tracks must agree within 1e-3 at every base.
Also: the fraction of this CPU's GEMM rate the scan reaches (model FLOPs per window x windows/s over
libtorch's measured GEMM rate at the LSTM's shapes, fp32 and bf16).
Usage: scripts/bench-scan.sh [--model DIR] [--bases N] [--step S] [--repeats N]
"""
import argparse
import gzip
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genolm_fastai import load_classifier  # noqa: E402
from lstm_flop_bound import gemm_rate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TORCH_BIN = ROOT / "target/release/genolm-torch"
GENOME_GZ = ROOT / ".cache/corpora/bacteria-ragout/E.Coli_MG1655-K12.fasta.gz"
BS = 64


def read_first_record(path):
    name, parts = None, []
    with open(path) as f:
        for line in f:
            if line.startswith(">"):
                if name is not None:
                    break
                name = line[1:].split()[0]
            else:
                parts.append(line.strip().upper())
    return name, "".join(parts)


def starts(n, window, step):
    s = list(range(0, n - window + 1, step))
    if s[-1] != n - window:
        s.append(n - window)
    return s


def pytorch_scan(clf, fasta, bases, window, step, bf16, out):
    t0 = time.perf_counter()
    name, seq = read_first_record(fasta)
    seq = seq[:bases]
    grid = starts(len(seq), window, step)
    total = np.zeros(len(seq))
    count = np.zeros(len(seq))
    k, s = clf.k, clf.stride
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for b in range(0, len(grid), BS):
            part = grid[b:b + BS]
            windows = [seq[a:a + window] for a in part]
            probs = np.zeros(len(part))
            for f in range(clf.frames):
                texts = [" ".join(w[i:i + k] for i in range(f, len(w) - k + 1, s)) for w in windows]
                ids = [e.ids[::-1] if clf.backwards else e.ids for e in clf.tokenizer.encode_batch(texts)]
                x = torch.tensor(ids)
                probs += clf.model(x)[0].float().softmax(-1)[:, 1].double().numpy() / clf.frames
            for a, p in zip(part, probs):
                total[a:a + window] += p
                count[a:a + window] += 1
    mean = total / count
    with open(out, "w") as f:
        run_start = 0
        rounded = np.round(mean, 6)
        for i in range(1, len(seq) + 1):
            if i == len(seq) or rounded[i] != rounded[run_start]:
                f.write(f"{name}\t{run_start}\t{i}\t{rounded[run_start]:.6f}\n")
                run_start = i
    return time.perf_counter() - t0, len(grid), mean


def genolm_scan(model, fasta, name, bases, window, step, precision, prefix):
    res = subprocess.run([str(TORCH_BIN), "scan", "--model", str(model), "--genome", str(fasta),
                          "--region", f"{name}:1-{bases}", "--window", str(window), "--step", str(step),
                          "--batch", str(BS), "--precision", precision, "--no-bigwig", "--json",
                          "--out", str(prefix)], check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bedgraph_values(path, n):
    v = np.full(n, np.nan)
    for line in Path(path).read_text().splitlines():
        if line.startswith("track"):
            continue
        _, a, b, x = line.split("\t")
        v[int(a):int(b)] = float(x)
    return v


def window_flops(clf, window):
    enc = clf.model[0].module
    flops = 0
    for f in range(clf.frames):
        tokens = (window - f - clf.k) // clf.stride + 1
        for rnn in enc.rnns:
            lstm = rnn.module
            flops += 2 * tokens * 4 * lstm.hidden_size * (lstm.input_size + lstm.hidden_size)
    return flops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=ROOT / "out/clf-ecoli-cds-promoters")
    ap.add_argument("--bases", type=int, default=300_000)
    ap.add_argument("--step", type=int, default=None, help="default: window / 2")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(2)
    clf = load_classifier(args.model)
    cfg = json.loads((args.model / "config.json").read_text())
    window = int(cfg.get("train_len") or 150)
    step = args.step or window // 2
    tmp = Path(tempfile.mkdtemp(prefix="genolm-bench-scan-"))
    fasta = tmp / "genome.fa"
    fasta.write_bytes(gzip.decompress(GENOME_GZ.read_bytes()))
    name, _ = read_first_record(fasta)
    enc = cfg["encoder"]
    results = {"machine": f"{platform.node()}, {torch.get_num_threads()} torch threads", "torch": torch.__version__,
               "model": str(args.model), "shape": [enc["emb_size"], enc["hidden_size"], enc["n_layers"]],
               "k": clf.k, "stride": clf.stride, "frames": clf.frames, "window": window, "step": step,
               "bases": args.bases, "batch": BS, "repeats": args.repeats, "cases": []}
    flops = window_flops(clf, window)
    hid = enc["hidden_size"]
    # The best GEMM rate at the LSTM's shapes (whole-window input GEMM, per-step recurrent GEMM):
    # what no LSTM implementation can beat on this CPU.
    rows = BS * ((window - clf.k) // clf.stride + 1)
    shapes = [(rows, enc["emb_size"] + hid, 4 * hid), (rows, hid, 4 * hid), (BS, hid, 4 * hid)]
    rates = {p: max(gemm_rate(m, k, n, dt, 2.0) for m, k, n in shapes)
             for p, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    results["gemm_gflops"] = rates
    results["flops_per_window"] = flops
    for precision in ("fp32", "bf16"):
        runs = {"pytorch": [], "genolm": []}
        worst = 0.0
        failed = None
        for _ in range(args.repeats):  # interleaved: a slow spell of the VM hits both sides
            try:
                secs, n, ref = pytorch_scan(clf, fasta, args.bases, window, step, precision == "bf16",
                                            tmp / "py.bedGraph")
            except RuntimeError as e:
                # oneDNN has no bf16 LSTM on CPUs without native bf16 (no AVX-512 BF16 / AMX).
                failed = str(e).splitlines()[0]
                break
            runs["pytorch"].append(n / secs)
            v = genolm_scan(args.model, fasta, name, args.bases, window, step, precision, tmp / "g")
            runs["genolm"].append(v["windows_per_s"])
            assert v["windows"] == n, (v["windows"], n)
            track = [p for p in tmp.glob("g.*.plus.bedGraph")][0]
            worst = max(worst, float(np.nanmax(np.abs(bedgraph_values(track, args.bases) - ref))))
        if failed:
            v = genolm_scan(args.model, fasta, name, args.bases, window, step, precision, tmp / "g")
            row = {"precision": precision, "pytorch_error": failed, "genolm_windows_per_s": v["windows_per_s"],
                   "genolm_gemm_fraction": v["windows_per_s"] * flops / (rates[precision] * 1e9)}
            results["cases"].append(row)
            print(f"{precision}: the PyTorch loop fails on this CPU ({failed}); genolm scan "
                  f"{v['windows_per_s']:.0f} windows/s (emulated bf16 where the CPU has none)", flush=True)
            continue
        py, gl = statistics.median(runs["pytorch"]), statistics.median(runs["genolm"])
        row = {"precision": precision, "pytorch_windows_per_s": py, "genolm_windows_per_s": gl,
               "ratio": gl / py, "max_abs_track_difference": worst, "runs": runs,
               "genolm_gemm_fraction": gl * flops / (rates[precision] * 1e9),
               "pytorch_gemm_fraction": py * flops / (rates[precision] * 1e9)}
        results["cases"].append(row)
        print(f"{precision}: PyTorch loop {py:.0f} windows/s, genolm scan {gl:.0f} windows/s ({gl / py:.2f}x); "
              f"tracks agree within {worst:.1e}; genolm reaches {row['genolm_gemm_fraction']:.1%} of the "
              f"{precision} GEMM rate ({rates[precision]:.0f} GFLOP/s, the best at the LSTM's shapes, "
              f"{flops / 1e6:.1f} MFLOP per window)", flush=True)
        assert worst < 1e-3, f"tracks differ by {worst}"
    out = ROOT / "out/bench/scan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    sys.exit(main())
