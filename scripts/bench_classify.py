"""AWD-LSTM classifier throughput, genolm vs fastai, in one run: training and prediction, fp32 and bf16.

Data: the E. coli CDS-start task made from the bundled GenBank (150 bp windows, 5-mers stride 2, 73
tokens each), a subset of N sequences. fastai side: get_text_classifier(AWD_LSTM, vocab, 2,
config=awd_lstm_clas_config with the shape, drop_mult=0.5, seq_len=70, max_len=1400) (SentenceEncoder
in 70-token chunks + PoolingLinearClassifier, as genolm's), trained in plain PyTorch as genolm trains:
cross-entropy, clip_grad_norm_ 0.25, AdamW (betas 0.9/0.99, eps 1e-5, wd 0.01), batches of 64
sequences of 73 tokens (token values do not change the work). bf16: torch.autocast("cpu", bfloat16).
Timed: training steps (forward + backward + step) after 3 warm-up steps; prediction: softmax of
batches of 64 under no_grad, from the first batch on (the cold start `genolm predict` also pays).
genolm: `classify train --json` (train_sequences_per_s, steps after the first 3) and `predict --json`
(sequences_per_s, reading and writing excluded), one k-mer frame (train.all_frames = false) so both
read each sequence once.
Usage: scripts/bench-classify.sh [--quick] [--repeats N]: N interleaved runs per case, medians
reported (this VM's timings move by 15-30 % between runs).
"""
import argparse
import json
import platform
import shutil
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from fastai.text.models.awdlstm import AWD_LSTM, awd_lstm_clas_config
from fastai.text.models.core import get_text_classifier

ROOT = Path(__file__).resolve().parent.parent
TORCH_BIN = ROOT / "target/release/genolm-torch"
DATA = ROOT / "out/dataset-ecoli-cds-promoters.tsv"
WARMUP = 3
BS = 64
SEQ_TOKENS = 73  # (150 - 5) / 2 + 1
VOCAB = 4**5 + 2  # complete 5-mer vocabulary + pad + unk
DEVICE = "cpu"  # --device: both sides on it (scripts/gpu-check.sh passes cuda)


def sync():
    """Waits for the GPU's queued work, so a timer read after it covers that work."""
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def fastai_model(emb, hid, layers):
    torch.manual_seed(0)
    cfg = dict(awd_lstm_clas_config)
    cfg.update(emb_sz=emb, n_hid=hid, n_layers=layers)
    model = get_text_classifier(AWD_LSTM, VOCAB, 2, seq_len=70, config=cfg, drop_mult=0.5, max_len=1400)
    return model.to(DEVICE)


def fastai_train_per_s(model, steps, bf16):
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    elapsed = 0.0
    for step in range(steps + WARMUP):
        x = torch.randint(2, VOCAB, (BS, SEQ_TOKENS), device=DEVICE)
        y = torch.randint(0, 2, (BS,), device=DEVICE)
        sync()
        t0 = time.perf_counter()
        with torch.autocast(DEVICE.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)[0]
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        sync()
        if step >= WARMUP:
            elapsed += time.perf_counter() - t0
    return steps * BS / elapsed


def fastai_predict_per_s(model, n, bf16):
    model.eval()
    x = torch.randint(2, VOCAB, (n, SEQ_TOKENS), device=DEVICE)
    # Timed from cold, as `genolm predict` is (its rate includes its first batch).
    with torch.no_grad(), torch.autocast(DEVICE.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        sync()
        t0 = time.perf_counter()
        for i in range(0, n, BS):
            model(x[i:i + BS])[0].float().softmax(-1).cpu()
        return n / (time.perf_counter() - t0)


def run_json(args):
    res = subprocess.run([str(TORCH_BIN)] + args, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def genolm_case(tmp, emb, hid, layers, n, precision):
    rows = DATA.read_text().splitlines()
    header, body = rows[0], rows[1:]
    # Every k-th row: both classes, the whole genome.
    sub = body[:: max(1, len(body) // n)][:n]
    table = tmp / "subset.tsv"
    table.write_text("\n".join([header] + sub) + "\n")
    seq_col = header.split("\t").index("sequence")
    fasta = tmp / "subset.fa"
    fasta.write_text("".join(f">s{i}\n{r.split(chr(9))[seq_col]}\n" for i, r in enumerate(sub)))
    cfg = tmp / "bench.toml"
    cfg.write_text(f'''k = 5
stride = 2
[data]
format = "table"
path = "{table}"
[split]
valid_frac = 0.05
test_frac = 0.05
[model]
emb_size = {emb}
hidden_size = {hid}
n_layers = {layers}
[train]
batch_size = {BS}
precision = "{precision}"
device = "{DEVICE}"
all_frames = false
stages = [{{ unfreeze = 0, epochs = 1, lr = 1e-3 }}]
''')
    out = tmp / f"clf-{emb}-{precision}"
    t = run_json(["classify", "train", "--config", str(cfg), "--out", str(out), "--json"])
    p = run_json(["predict", "--model", str(out), "--fasta", str(fasta), "--out", str(tmp / "p.tsv"),
                  "--precision", precision, "--batch-size", str(BS), "--device", DEVICE, "--json"])
    shutil.rmtree(out)
    return t["train_sequences_per_s"], p["sequences_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small shape only")
    ap.add_argument("--repeats", type=int, default=1, help="runs per case; medians are reported")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    ap.add_argument("--results", default=str(ROOT / "out/bench/classify.json"))
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    tmp = Path(tempfile.mkdtemp(prefix="genolm-bench-clf-"))
    results = {"machine": f"{platform.node()}, {torch.get_num_threads()} torch threads", "torch": torch.__version__,
               "device": DEVICE, "batch": BS, "tokens_per_sequence": SEQ_TOKENS, "cases": []}
    shapes = [("small", 128, 512, 2, 1600)]
    if not args.quick:
        shapes.append(("paper", 400, 1150, 3, 1280))
    try:
        for name, emb, hid, layers, n in shapes:
            steps = int(n * 0.9) // BS - WARMUP - 1
            row = {"case": name, "emb": emb, "hidden": hid, "layers": layers, "sequences": n, "repeats": args.repeats}
            runs = {}
            for _ in range(args.repeats):  # interleaved, so a slow spell of the VM hits both sides
                for precision in ("fp32", "bf16"):
                    bf16 = precision == "bf16"
                    m = fastai_model(emb, hid, layers)
                    runs.setdefault(f"fastai_train_{precision}", []).append(fastai_train_per_s(m, steps, bf16))
                    runs.setdefault(f"fastai_predict_{precision}", []).append(fastai_predict_per_s(m, n, bf16))
                    tr, pr = genolm_case(tmp, emb, hid, layers, n, precision)
                    runs.setdefault(f"genolm_train_{precision}", []).append(tr)
                    runs.setdefault(f"genolm_predict_{precision}", []).append(pr)
            for key, values in runs.items():
                row[key] = statistics.median(values)
                row[f"{key}_runs"] = values
            for what in ("train", "predict"):
                base = row[f"fastai_{what}_fp32"]
                row[f"{what}_fp32_ratio"] = row[f"genolm_{what}_fp32"] / base
                row[f"{what}_bf16_vs_fastai_fp32"] = row[f"genolm_{what}_bf16"] / base
                row[f"{what}_bf16_vs_fastai_bf16"] = row[f"genolm_{what}_bf16"] / row[f"fastai_{what}_bf16"]
                print(f"{name} (emb {emb}, hidden {hid}, {layers} layers, batch {BS} x {SEQ_TOKENS} tokens, "
                      f"median of {args.repeats}) {what}: "
                      f"fastai fp32 {base:.0f} seq/s, bf16 {row[f'fastai_{what}_bf16']:.0f}; genolm fp32 "
                      f"{row[f'genolm_{what}_fp32']:.0f} ({row[f'{what}_fp32_ratio']:.2f}x), bf16 "
                      f"{row[f'genolm_{what}_bf16']:.0f} ({row[f'{what}_bf16_vs_fastai_fp32']:.2f}x fastai fp32, "
                      f"{row[f'{what}_bf16_vs_fastai_bf16']:.2f}x fastai bf16)", flush=True)
            results["cases"].append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.results).write_text(json.dumps(results, indent=2))
    print(f"results: {args.results}")


if __name__ == "__main__":
    sys.exit(main())
