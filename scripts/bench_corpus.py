"""Times genolm's corpus build against its Python anchors in one run and prints the ratios.

Anchor (what a Genomic-ULMFiT user runs today, minus fastai's DataFrame plumbing): read the FASTA,
cut 1000 bp documents, GenomicTokenizer's k-mer split (`t[i:i+k] for i in range(0, len(t), stride)`),
a Counter vocabulary ordered by frequency (GenomicVocab.create), numericalization through the stoi
dict into int64 arrays (GenomicNumericalizeProcessor), and the token array written to disk.
Cases: E. coli (k=5/2, 3/1) against it; human chr20 (bgzf) against `gzip -dc`; the 16 Ragout
bacterial genomes against both (the anchor once, in a child process, for its peak RSS).
"""
import argparse
import collections
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tokenizers

ROOT = Path(__file__).resolve().parent.parent
GENOLM = ROOT / "target/release/genolm"
SHARED = ROOT.parent / "shared/data"
DOC_LEN = 1000


def read_fasta(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    seqs, cur = [], []
    with opener(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                if cur:
                    seqs.append("".join(cur))
                cur = []
            else:
                cur.append(line.strip())
    if cur:
        seqs.append("".join(cur))
    return seqs


def split_kmers(t, k, stride):
    t = t.upper()
    return [t[i:i + k] for i in range(0, len(t), stride) if len(t[i:i + k]) == k]


def python_anchor(paths, k, stride, out):
    """Genomic-ULMFiT's corpus preparation in plain Python; returns (seconds, tokens, phase times)."""
    t0 = time.perf_counter()
    docs = [rec[i:i + DOC_LEN] for path in paths for rec in read_fasta(path)
            for i in range(0, len(rec), DOC_LEN)]
    t1 = time.perf_counter()
    toks = [split_kmers(d, k, stride) for d in docs]
    t2 = time.perf_counter()
    freq = collections.Counter(p for o in toks for p in o)
    itos = ["pad"] + [o for o, c in freq.most_common(60000) if c >= 1]
    stoi = collections.defaultdict(int, {v: i for i, v in enumerate(itos)})
    ids = [np.array([stoi[w] for w in o], dtype=np.int64) for o in toks]
    t3 = time.perf_counter()
    np.concatenate(ids).tofile(out)
    t4 = time.perf_counter()
    n = sum(len(o) for o in toks)
    return t4 - t0, n, {"read": t1 - t0, "kmer_split": t2 - t1, "vocab_numericalize": t3 - t2, "write": t4 - t3}, toks, itos


def hf_anchor(toks, itos):
    """HF tokenizers (Rust under Python) encoding the pre-split k-mers with the same vocabulary."""
    vocab = {w: i for i, w in enumerate(itos)}
    vocab["<unk>"] = len(vocab)
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    t0 = time.perf_counter()
    enc = tok.encode_batch(toks, is_pretokenized=True)
    n = sum(len(e.ids) for e in enc)
    return time.perf_counter() - t0, n


def run_genolm(args, out, repeats):
    """Best of `repeats` runs, each into a fresh directory (so no run pays for deleting the last);
    the summary of the best run gets the medians of wall and internal seconds added."""
    best, summary, walls, internals = float("inf"), None, [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        res = subprocess.run([str(GENOLM), *args, "--out", f"{out}-{r}", "--json"], check=True,
                             capture_output=True, text=True)
        wall = time.perf_counter() - t0
        shutil.rmtree(f"{out}-{r}")
        walls.append(wall)
        internals.append(json.loads(res.stdout)["seconds"])
        if wall < best:
            best, summary = wall, json.loads(res.stdout)
    summary["median_wall_s"] = statistics.median(walls)
    summary["median_seconds"] = statistics.median(internals)
    return best, summary


def best_of(fn, repeats):
    return min(fn() for _ in range(repeats))


def decompress_only(*paths):
    t0 = time.perf_counter()
    names = " ".join(f"'{p}'" for p in paths)
    subprocess.run(f"gzip -dc {names} > /dev/null", shell=True, check=True)
    return time.perf_counter() - t0


# Runs a command and reports its wall time and peak RSS. It runs from this small interpreter, not
# from the benchmark itself: a child forked from a large process inherits that process's RSS in
# its high-water mark (kept across exec).
PROBE = """import json, resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": r.returncode, "wall": time.perf_counter() - t, "out": r.stdout,
                  "rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"""


def measured(cmd):
    """Runs `cmd`; returns (wall seconds, peak RSS in MB, stdout)."""
    res = json.loads(subprocess.run([sys.executable, "-c", PROBE, *cmd], check=True, capture_output=True,
                                    text=True).stdout)
    if res["rc"] != 0:
        sys.exit(f"bench: {cmd[0]} failed ({res['rc']})")
    return res["wall"], res["rss_kb"] / 1024, res["out"]


def bacteria_case(paths, tmp, repeats):
    """The 16 Ragout genomes (48 Mbp, gzip FASTA): Genomic-ULMFiT's multi-genome case, against the
    Python anchor (one run, in a child process for its peak RSS) and against decompressing alone."""
    anchor_cmd = [sys.executable, __file__, "--anchor", *map(str, paths)]
    py_wall, py_rss, py_out = measured(anchor_cmd)
    py = json.loads(py_out)
    dec = best_of(lambda: decompress_only(*paths), repeats)
    args = [a for p in paths for a in ("--fasta", str(p))]
    runs = [measured([str(GENOLM), "corpus", "build", *args, "--doc-len", str(DOC_LEN),
                      "--out", str(tmp / f"bac-{r}"), "--json"]) for r in range(repeats)]
    for r in range(repeats):
        shutil.rmtree(tmp / f"bac-{r}")
    walls = [w for w, _, _ in runs]
    g = json.loads(min(runs)[2])
    case = {"data": "16 bacterial genomes (Ragout; 48.2 Mbp, gzip FASTA)", "k": 5, "stride": 2,
            "python_s": py["seconds"], "python_wall_s": py_wall, "python_peak_rss_mb": py_rss,
            "python_tokens": py["tokens"], "gzip_dc_s": dec,
            "genolm_wall_s": min(walls), "genolm_median_wall_s": statistics.median(walls),
            "genolm_internal_s": g["seconds"], "genolm_tokens": g["tokens"],
            "genolm_peak_rss_mb": max(rss for _, rss, _ in runs),
            "speedup_vs_python_median_wall": py["seconds"] / statistics.median(walls),
            "ratio_to_decompress": statistics.median(walls) / dec}
    print(f"bacteria k=5 stride=2: python {py['seconds']:.1f} s ({py_rss:.0f} MB peak), gzip -dc {dec:.2f} s, "
          f"genolm median {case['genolm_median_wall_s']:.2f} s wall ({case['genolm_peak_rss_mb']:.0f} MB peak) -> "
          f"{case['speedup_vs_python_median_wall']:.0f}x python, {case['ratio_to_decompress']:.2f}x the time of "
          f"decompressing", flush=True)
    return case


def main():
    global GENOLM
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=11, help="genolm runs per case (best and median)")
    ap.add_argument("--py-repeats", type=int, default=3, help="Python anchor runs per case (best)")
    ap.add_argument("--genolm", type=Path, default=None, help="the genolm binary to time (another build, say)")
    ap.add_argument("--anchor", type=Path, nargs="+", help=argparse.SUPPRESS)  # one anchor run (child process)
    args = ap.parse_args()
    if args.anchor:
        with tempfile.NamedTemporaryFile() as f:
            secs, n, *_ = python_anchor(args.anchor, 5, 2, f.name)
        print(json.dumps({"seconds": secs, "tokens": n}))
        return
    GENOLM = args.genolm or GENOLM
    ecoli = SHARED / "ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna"
    chr20 = SHARED / "human_grch37_chr20/20.fa.gz"
    if not ecoli.exists():
        sys.exit(f"bench: {ecoli} not found (the project's shared data)")
    tmp = Path(tempfile.mkdtemp(prefix="genolm-bench-"))
    results = {"machine": f"{platform.node()} {os.cpu_count()} cpus, {platform.processor() or platform.machine()}",
               "python": sys.version.split()[0], "tokenizers": tokenizers.__version__, "cases": []}
    try:
        for k, stride in [(5, 2), (3, 1)]:
            # The anchor's best of --py-repeats runs (its fastest is the fairest bar for genolm).
            runs = [python_anchor([ecoli], k, stride, tmp / "py.bin") for _ in range(args.py_repeats)]
            py_s, py_n, phases, toks, itos = min(runs, key=lambda r: r[0])
            del runs
            hf_s, hf_n = hf_anchor(toks, itos)
            del toks
            g_wall, g = run_genolm(["corpus", "build", "--fasta", str(ecoli), "--k", str(k), "--stride", str(stride),
                                    "--doc-len", str(DOC_LEN)], tmp / "c", args.repeats)
            case = {"data": "E. coli NC_000913.3 (4.64 Mbp, FASTA)", "k": k, "stride": stride,
                    "python_s": py_s, "python_tokens": py_n, "python_phases": phases,
                    "hf_tokenizers_encode_s": hf_s, "genolm_wall_s": g_wall, "genolm_internal_s": g["seconds"],
                    "genolm_tokens": g["tokens"],
                    "genolm_median_wall_s": g["median_wall_s"], "genolm_median_internal_s": g["median_seconds"],
                    "speedup_vs_python_median_wall": py_s / g["median_wall_s"],
                    "speedup_vs_python_wall": py_s / g_wall, "speedup_vs_python_internal": py_s / g["seconds"],
                    "speedup_vs_hf_encode_only": hf_s / g_wall,
                    "python_mbp_s": 4.641652 / py_s, "genolm_mbp_s": 4.641652 / g_wall}
            results["cases"].append(case)
            print(f"E. coli k={k} stride={stride}: python {py_s:.2f} s ({case['python_mbp_s']:.1f} Mbp/s), "
                  f"HF tokenizers encode (pre-split) {hf_s:.2f} s, genolm {g_wall * 1000:.0f} ms wall / "
                  f"{g['seconds'] * 1000:.0f} ms internal ({case['genolm_mbp_s']:.0f} Mbp/s) -> "
                  f"{case['speedup_vs_python_wall']:.0f}x python (wall), {case['speedup_vs_python_internal']:.0f}x (internal), "
                  f"median of {args.repeats} runs {g['median_wall_s'] * 1000:.1f} ms wall / "
                  f"{g['median_seconds'] * 1000:.1f} ms internal -> {case['speedup_vs_python_median_wall']:.0f}x, "
                  f"{case['speedup_vs_hf_encode_only']:.0f}x HF encode alone", flush=True)
        if chr20.exists():
            dec = best_of(lambda: decompress_only(chr20), args.repeats)
            g_wall, g = run_genolm(["corpus", "build", "--fasta", str(chr20), "--doc-len", str(DOC_LEN)],
                                   tmp / "c20", args.repeats)
            case = {"data": "human chr20 GRCh37 (63 Mbp, bgzf)", "k": 5, "stride": 2, "gzip_dc_s": dec,
                    "genolm_wall_s": g_wall, "genolm_internal_s": g["seconds"],
                    "genolm_median_wall_s": g["median_wall_s"], "ratio_to_decompress": g_wall / dec,
                    "median_ratio_to_decompress": g["median_wall_s"] / dec}
            results["cases"].append(case)
            print(f"chr20 k=5 stride=2: gzip -dc {dec:.2f} s, genolm {g_wall:.2f} s wall "
                  f"({g['seconds']:.2f} s internal, median {g['median_wall_s']:.2f} s) -> "
                  f"{case['ratio_to_decompress']:.2f}x the time of decompressing "
                  f"({case['median_ratio_to_decompress']:.2f}x median)", flush=True)
        bacteria = sorted(SHARED.glob("bacterial_genomes_debian/ragout_*/*.fasta.gz"))
        if bacteria:
            results["cases"].append(bacteria_case(bacteria, tmp, args.repeats))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = ROOT / "out/bench/corpus.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
