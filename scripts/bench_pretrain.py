"""AWD-LSTM language-model training throughput, genolm vs fastai, in one run; then bf16 quality.

fastai side: the model from fastai 2.8's get_language_model(AWD_LSTM, vocab, config) (its AWD-LSTM
defaults for dropouts), trained in plain PyTorch exactly as genolm trains: cross-entropy + AR (alpha 2)
+ TAR (beta 1), clip_grad_norm_ 0.25, AdamW (betas 0.9/0.99, eps 1e-5, wd 0.01), hidden state carried
and detached, batches of the same corpus tokens. bf16: torch.autocast(device, torch.bfloat16).
Timed: forward + backward + step, after warm-up steps, same threads (libtorch default, one per core).
Usage: scripts/bench-pretrain.sh [--quick] [--repeats N]: N interleaved runs per shape, medians
reported (this VM's timings move by 10-25 % between runs).
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

import numpy as np
import torch
import torch.nn.functional as F
from fastai.text.models.awdlstm import AWD_LSTM, awd_lstm_lm_config
from fastai.text.models.core import get_language_model

ROOT = Path(__file__).resolve().parent.parent
GENOLM = ROOT / "target/release/genolm"
CORPUS = ROOT / "out/corpus-ecoli"
WARMUP = 3
DEVICE = "cpu"  # --device: both sides on it (scripts/gpu-check.sh passes cuda)


def sync():
    """Waits for the GPU's queued work, so a timer read after it covers that work."""
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def fastai_step(model, wrapped, opt, x, y, vocab, bf16=False):
    """One training step of fastai's AWD-LSTM as genolm trains: cross-entropy + AR (alpha 2) + TAR
    (beta 1), clip 0.25, the optimizer's step, hidden state detached. `wrapped` runs the forward
    (the model itself, or a DistributedDataParallel around it)."""
    with torch.autocast(DEVICE.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        decoded, raw, dropped = wrapped(x)
        loss = F.cross_entropy(decoded.float().reshape(-1, vocab), y.reshape(-1))
        loss = loss + 2.0 * dropped.float().pow(2).mean()
        loss = loss + 1.0 * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    opt.step()
    for layer_hidden in model[0].hidden:
        for h in layer_hidden:
            h.detach_()


def fastai_tokens_per_s(vocab, emb, hid, layers, bs, bptt, steps, bf16):
    torch.manual_seed(0)
    cfg = dict(awd_lstm_lm_config)
    cfg.update(emb_sz=emb, n_hid=hid, n_layers=layers)
    model = get_language_model(AWD_LSTM, vocab, config=cfg).to(DEVICE)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    tokens = np.fromfile(CORPUS / "tokens.bin", dtype=np.uint16).astype(np.int64)
    stream = len(tokens) // bs
    data = torch.from_numpy(tokens[: stream * bs].reshape(bs, stream)).to(DEVICE)
    model.reset()
    elapsed, counted = 0.0, 0
    for step in range(steps + WARMUP):
        i = step * bptt
        x, y = data[:, i:i + bptt], data[:, i + 1:i + 1 + bptt]
        sync()
        t0 = time.perf_counter()
        fastai_step(model, model, opt, x, y, vocab, bf16)
        sync()
        if step >= WARMUP:
            elapsed += time.perf_counter() - t0
            counted += bs * bptt
    return counted / elapsed


def genolm_run(out, sets, json_line=True):
    args = [str(GENOLM), "pretrain", "--config", str(ROOT / "configs/lm-ecoli-cpu.toml"), "--out", str(out), "--json"]
    for s in sets:
        args += ["--set", s]
    res = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def genolm_tokens_per_s(tmp, emb, hid, layers, bs, bptt, steps, precision):
    out = tmp / f"g-{emb}-{precision}"
    r = genolm_run(out, [f"model.emb_size={emb}", f"model.hidden_size={hid}", f"model.n_layers={layers}",
                         "model.drop_mult=1.0", f"train.batch_size={bs}", f"train.bptt={bptt}",
                         f"train.max_steps={steps + WARMUP}", f"train.precision={precision}",
                         "train.valid_max_batches=1", "train.checkpoint_every=0", f"corpus={CORPUS}",
                         f"train.device={DEVICE}"])
    shutil.rmtree(out)
    return r["tokens_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small shapes only, no quality run")
    ap.add_argument("--repeats", type=int, default=1, help="runs per shape; medians are reported")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    ap.add_argument("--results", default=str(ROOT / "out/bench/pretrain.json"))
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    vocab = len(json.loads((CORPUS / "tokenizer.json").read_text())["model"]["vocab"])
    tmp = Path(tempfile.mkdtemp(prefix="genolm-bench-lm-"))
    results = {"machine": f"{platform.node()}, {torch.get_num_threads()} torch threads", "torch": torch.__version__,
               "device": DEVICE,
               "vocab": vocab, "cases": []}
    shapes = [("small", 128, 512, 2, 64, 70, 25)]
    if not args.quick:
        shapes.append(("paper", 400, 1150, 3, 64, 70, 6))
    try:
        for name, emb, hid, layers, bs, bptt, steps in shapes:
            row = {"case": name, "emb": emb, "hidden": hid, "layers": layers, "batch": bs, "bptt": bptt}
            row["repeats"] = args.repeats
            runs = {}
            for _ in range(args.repeats):  # interleaved, so a slow spell of the VM hits both sides
                for precision in ("fp32", "bf16"):
                    runs.setdefault(f"fastai_{precision}", []).append(
                        fastai_tokens_per_s(vocab, emb, hid, layers, bs, bptt, steps, precision == "bf16"))
                    runs.setdefault(f"genolm_{precision}", []).append(
                        genolm_tokens_per_s(tmp, emb, hid, layers, bs, bptt, steps, precision))
            for key, values in runs.items():
                row[key] = statistics.median(values)
                row[f"{key}_runs"] = values
            row["fp32_ratio"] = row["genolm_fp32"] / row["fastai_fp32"]
            row["bf16_vs_fastai_fp32"] = row["genolm_bf16"] / row["fastai_fp32"]
            row["bf16_vs_fastai_bf16"] = row["genolm_bf16"] / row["fastai_bf16"]
            results["cases"].append(row)
            print(f"{name} (emb {emb}, hidden {hid}, {layers} layers, batch {bs}, bptt {bptt}, vocab {vocab}, "
                  f"median of {args.repeats}): "
                  f"fastai fp32 {row['fastai_fp32']:.0f} tok/s, bf16 {row['fastai_bf16']:.0f}; genolm fp32 "
                  f"{row['genolm_fp32']:.0f} ({row['fp32_ratio']:.2f}x), bf16 {row['genolm_bf16']:.0f} "
                  f"({row['bf16_vs_fastai_fp32']:.2f}x fastai fp32, {row['bf16_vs_fastai_bf16']:.2f}x fastai bf16)",
                  flush=True)
        if not args.quick:
            q = {}
            for precision in ("fp32", "bf16"):
                r = genolm_run(tmp / f"q-{precision}", [f"train.precision={precision}", "train.max_steps=400",
                                                         "train.epochs=1", f"corpus={CORPUS}",
                                                         f"train.device={DEVICE}"])
                q[precision] = r["valid_loss"]
            q["relative_difference"] = abs(q["bf16"] - q["fp32"]) / q["fp32"]
            results["bf16_quality"] = q
            print(f"quality, 400 steps of configs/lm-ecoli-cpu.toml: valid loss fp32 {q['fp32']:.4f}, "
                  f"bf16 {q['bf16']:.4f} ({100 * q['relative_difference']:.2f}% apart)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.results).write_text(json.dumps(results, indent=2))
    print(f"results: {args.results}")


if __name__ == "__main__":
    sys.exit(main())
