"""Data-parallel pretraining throughput (issue #25): genolm on c10d/Gloo against PyTorch's own
DistributedDataParallel (Gloo) on fastai 2.8's AWD-LSTM, same shape, same corpus, same machine.

Each side runs one process with every core, and two processes with half the cores each (the global
batch B split B/2 per rank), all in fp32, dropout-free so the two sides do the same arithmetic.
genolm reports its gradient-averaging cost per step (bytes and ms: the wait left after the
backward pass, since each bucket's allreduce starts during it, as DDP's do); genolm with the
averaging after the backward pass (GENOLM_DIST_NO_OVERLAP=1) is timed too.
Usage: scripts/bench-dist.sh [--steps N] [--repeats R]      Results: out/bench/dist.json
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parent.parent
GENOLM = ROOT / "target/release/genolm"
CORPUS = ROOT / "out/corpus-ecoli"
WARMUP = 3
CORES = os.cpu_count() or 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def genolm_run(shape, steps, nproc, workdir, overlap=True):
    emb, hid, layers, bs, bptt = shape
    cfg = Path(workdir) / "lm.toml"
    cfg.write_text(
        f'corpus = "{CORPUS}"\n[model]\nemb_size = {emb}\nhidden_size = {hid}\nn_layers = {layers}\n'
        f"drop_mult = 0.0\n[train]\nbatch_size = {bs}\nbptt = {bptt}\nepochs = 1\nmax_steps = {steps + WARMUP}\n"
        f'lr = 1e-3\nseed = 1\nprecision = "fp32"\nlog_every = 1000\ncheckpoint_every = 0\nvalid_max_batches = 1\n'
    )
    out = Path(workdir) / f"lm-{nproc}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    args = ["pretrain", "--config", str(cfg), "--out", str(out), "--quiet", "--json"]
    if nproc == 1:
        cmd = [str(GENOLM), *args]
        env = dict(os.environ, OMP_NUM_THREADS=str(CORES))
    else:
        cmd = [str(GENOLM), "launch", "--nproc", str(nproc), "--threads", str(max(1, CORES // nproc)), "--", *args]
        env = dict(os.environ, GENOLM_DIST_NO_OVERLAP="0" if overlap else "1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"genolm failed: {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def torch_worker(rank, world, port, shape, steps, result):
    from fastai.text.models.awdlstm import AWD_LSTM, awd_lstm_lm_config
    from fastai.text.models.core import get_language_model

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_pretrain import fastai_step

    emb, hid, layers, bs, bptt = shape
    torch.set_num_threads(max(1, CORES // world))
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    tokens = np.fromfile(CORPUS / "tokens.bin", dtype=np.uint16).astype(np.int64)
    vocab = int(json.loads((CORPUS / "tokenizer.json").read_text())["model"]["vocab"].__len__())
    torch.manual_seed(0)
    cfg = dict(awd_lstm_lm_config)
    cfg.update(emb_sz=emb, n_hid=hid, n_layers=layers, output_p=0.0, hidden_p=0.0, input_p=0.0, embed_p=0.0, weight_p=0.0)
    model = get_language_model(AWD_LSTM, vocab, config=cfg)
    model.train()
    wrapped = model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    stream = len(tokens) // bs
    data = torch.from_numpy(tokens[: stream * bs].reshape(bs, stream))
    share = bs // world
    data = data[rank * share:(rank + 1) * share]
    model.reset()
    elapsed = 0.0
    for step in range(steps + WARMUP):
        i = step * bptt
        x, y = data[:, i:i + bptt], data[:, i + 1:i + 1 + bptt]
        t0 = time.perf_counter()
        fastai_step(model, wrapped, opt, x, y, vocab)
        if step >= WARMUP:
            elapsed += time.perf_counter() - t0
    if rank == 0:
        result.put(bs * bptt * steps / elapsed)
    if world > 1:
        dist.destroy_process_group()


def torch_run(shape, steps, nproc):
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=torch_worker, args=(r, nproc, port, shape, steps, result)) for r in range(nproc)]
    for p in procs:
        p.start()
    value = result.get(timeout=1800)
    for p in procs:
        p.join()
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    # The CPU pretraining config's shape (configs/lm-ecoli-cpu.toml) and a smaller one.
    shapes = {"emb 128, hidden 512, 2 layers, B 64 x bptt 70": (128, 512, 2, 64, 70),
              "emb 64, hidden 256, 2 layers, B 64 x bptt 70": (64, 256, 2, 64, 70)}
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for name, shape in shapes.items():
            runs = {k: [] for k in ("genolm_1", "genolm_2", "genolm_2_after_backward", "torch_1", "torch_2")}
            stats = []
            for _ in range(args.repeats):
                # Interleaved, so drifts of this VM's speed hit every variant alike.
                runs["genolm_1"].append(genolm_run(shape, args.steps, 1, work)["tokens_per_s"])
                r2 = genolm_run(shape, args.steps, 2, work)
                runs["genolm_2"].append(r2["tokens_per_s"])
                stats.append(r2["data_parallel"])
                runs["genolm_2_after_backward"].append(genolm_run(shape, args.steps, 2, work, overlap=False)["tokens_per_s"])
                runs["torch_1"].append(torch_run(shape, args.steps, 1))
                runs["torch_2"].append(torch_run(shape, args.steps, 2))
            med = {k: statistics.median(v) for k, v in runs.items()}
            ms = statistics.median(s["ms_per_step"] for s in stats)
            step_ms = shape[3] * shape[4] / med["genolm_2"] * 1000
            results[name] = {
                "tokens_per_s_median": med,
                "runs": runs,
                "genolm_2_over_1": med["genolm_2"] / med["genolm_1"],
                "overlap_gain": med["genolm_2"] / med["genolm_2_after_backward"],
                "torch_2_over_1": med["torch_2"] / med["torch_1"],
                "genolm_over_torch_1proc": med["genolm_1"] / med["torch_1"],
                "genolm_over_torch_2proc": med["genolm_2"] / med["torch_2"],
                "allreduce_bytes_per_step": stats[0]["bytes_per_step"],
                "allreduce_ms_per_step": ms,
                "step_ms_2proc": step_ms,
                "allreduce_share_of_step": ms / step_ms,
            }
            r = results[name]
            print(f"{name}: genolm 1 proc {med['genolm_1']:.0f} tok/s, 2 procs {med['genolm_2']:.0f} "
                  f"({r['genolm_2_over_1']:.2f}x; overlapped/after-backward {r['overlap_gain']:.2f}x); PyTorch DDP 1 proc {med['torch_1']:.0f}, 2 procs "
                  f"{med['torch_2']:.0f} ({r['torch_2_over_1']:.2f}x); genolm/PyTorch {r['genolm_over_torch_1proc']:.2f}x "
                  f"(1 proc), {r['genolm_over_torch_2proc']:.2f}x (2 procs); allreduce {r['allreduce_bytes_per_step']/1e6:.1f} MB "
                  f"in {ms:.1f} ms/step = {100*r['allreduce_share_of_step']:.0f} % of a step", flush=True)
    out = ROOT / "out/bench/dist.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cores": CORES, "steps": args.steps, "results": results}, indent=1))
    print(f"floor: 2 processes on {CORES} cores can at best match 1 process with {CORES} threads "
          f"(the same cores), less the allreduce; results: {out}")


if __name__ == "__main__":
    main()
