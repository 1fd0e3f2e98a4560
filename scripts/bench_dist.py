"""Data-parallel pretraining throughput (issue #25): genolm on c10d/Gloo against PyTorch's own
DistributedDataParallel (Gloo) on fastai 2.8's AWD-LSTM, same shape, same corpus, same machine.

Each side runs one process with every core, and two processes with half the cores each (the global
batch B split B/2 per rank), all in fp32, dropout-free so the two sides do the same arithmetic.
genolm reports its gradient-averaging cost per step (bytes and ms: the wait left after the
backward pass, since each bucket's allreduce starts during it, as DDP's do); genolm with the
averaging after the backward pass (GENOLM_DIST_NO_OVERLAP=1) is timed too.

Then BatchNorm across ranks: a ULMFiT classifier (BatchNorm head) on a planted-motif task, genolm on
1 process and on 2 with the BatchNorms synced (the default) and with each rank's own statistics
(GENOLM_DIST_LOCAL_BN=1), against fastai's text classifier of the same shape under DDP, whose
BatchNorms use each rank's rows (PyTorch's nn.SyncBatchNorm refuses CPU modules: "SyncBatchNorm
layers only work with GPU modules").
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
    return genolm_json(["pretrain", "--config", str(cfg)], out, nproc,
                       GENOLM_DIST_NO_OVERLAP="0" if overlap else "1")


def genolm_json(command, out, nproc, **env):
    """`genolm COMMAND --out OUT --quiet --json` on nproc processes (`genolm launch`, the cores split
    between them) with `env` set; its JSON summary."""
    subprocess.run(["rm", "-rf", str(out)], check=True)
    args = [*command, "--out", str(out), "--quiet", "--json"]
    if nproc == 1:
        cmd = [str(GENOLM), *args]
    else:
        cmd = [str(GENOLM), "launch", "--nproc", str(nproc), "--threads", str(max(1, CORES // nproc)), "--", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(CORES), **env))
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


CLF_BS, CLF_LEN, CLF_SEQ = 32, 50, 2000  # batch, bp per sequence, sequences (k = 3, stride 1: 48 tokens)
CLF_SHAPE = (64, 128, 2, 50)  # emb, hidden, layers, head width


def motif_table(path):
    """CLF_SEQ random sequences, every other one carrying the primer's motif (label motif/background)."""
    rng = np.random.default_rng(5)
    rows = ["sequence\tlabel"]
    for i in range(CLF_SEQ):
        s = "".join(rng.choice(list("ACGT"), CLF_LEN))
        if i % 2 == 0:
            at = int(rng.integers(0, CLF_LEN - 12))
            s = s[:at] + "CGACCGAACTCC" + s[at + 12:]
        rows.append(f"{s}\t{'motif' if i % 2 == 0 else 'background'}")
    path.write_text("\n".join(rows) + "\n")


def genolm_clf_run(nproc, workdir, local_bn=False):
    emb, hid, layers, lin = CLF_SHAPE
    table = Path(workdir) / "motif.tsv"
    if not table.exists():
        motif_table(table)
    cfg = Path(workdir) / "clf.toml"
    cfg.write_text(
        f'k = 3\nstride = 1\ndrop_mult = 0.0\n[data]\nformat = "table"\npath = "{table}"\n[split]\nvalid_frac = 0.1\n'
        f"test_frac = 0.1\n[model]\nemb_size = {emb}\nhidden_size = {hid}\nn_layers = {layers}\n[head]\nlin_size = {lin}\n"
        f'ps = [0.0, 0.0]\n[train]\nbatch_size = {CLF_BS}\nprecision = "fp32"\nall_frames = false\n'
        f"stages = [{{ unfreeze = 0, epochs = 3, lr = 1e-3 }}]\n"
    )
    r = genolm_json(["classify", "train", "--config", str(cfg)], Path(workdir) / f"clf-{nproc}", nproc,
                    GENOLM_DIST_LOCAL_BN="1" if local_bn else "0")
    return r["train_sequences_per_s"]


def clf_torch_worker(rank, world, port, steps, result):
    """fastai's text classifier of CLF_SHAPE (BatchNorm1d in its head), dropout off, trained as
    bench_classify.py trains it, on this rank's CLF_BS / world rows of random tokens."""
    import torch.nn.functional as F
    from fastai.text.models.awdlstm import AWD_LSTM, awd_lstm_clas_config
    from fastai.text.models.core import get_text_classifier

    emb, hid, layers, lin = CLF_SHAPE
    torch.set_num_threads(max(1, CORES // world))
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    cfg = dict(awd_lstm_clas_config)
    # weight_p 1e-7, not 0: fastai's WeightDropout at p = 0 registers F.dropout's output (the raw
    # Parameter itself) as the LSTM's weight, and the SentenceEncoder's per-batch reset() then fails.
    cfg.update(emb_sz=emb, n_hid=hid, n_layers=layers, output_p=0.0, hidden_p=0.0, input_p=0.0, embed_p=0.0, weight_p=1e-7)
    vocab, tokens = 4**3 + 2, CLF_LEN - 2
    model = get_text_classifier(AWD_LSTM, vocab, 2, seq_len=70, config=cfg, lin_ftrs=[lin], ps=[0.0],
                                drop_mult=1.0, max_len=1400)
    model.train()
    wrapped = model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    share = CLF_BS // world
    elapsed = 0.0
    for step in range(steps + WARMUP):
        x = torch.randint(2, vocab, (share, tokens))
        y = torch.randint(0, 2, (share,))
        t0 = time.perf_counter()
        loss = F.cross_entropy(wrapped(x)[0].float(), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        if step >= WARMUP:
            elapsed += time.perf_counter() - t0
    if rank == 0:
        result.put(CLF_BS * steps / elapsed)
    if world > 1:
        dist.destroy_process_group()


def spawn(worker, nproc, *args):
    """Runs worker(rank, nproc, port, *args, queue) in nproc processes; rank 0's result."""
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=worker, args=(r, nproc, port, *args, result)) for r in range(nproc)]
    for p in procs:
        p.start()
    value = result.get(timeout=1800)
    for p in procs:
        p.join()
    return value


def torch_run(shape, steps, nproc):
    return spawn(torch_worker, nproc, shape, steps)


def batch_norm_case(repeats, steps, work):
    """The BatchNorm classifier: genolm 1 / 2 synced / 2 local against PyTorch 1 / DDP."""
    keys = ("genolm_1", "genolm_2_synced", "genolm_2_local", "torch_1", "torch_2")
    runs = {k: [] for k in keys}
    for _ in range(repeats):
        runs["genolm_1"].append(genolm_clf_run(1, work))
        runs["genolm_2_synced"].append(genolm_clf_run(2, work))
        runs["genolm_2_local"].append(genolm_clf_run(2, work, local_bn=True))
        runs["torch_1"].append(spawn(clf_torch_worker, 1, steps))
        runs["torch_2"].append(spawn(clf_torch_worker, 2, steps))
    med = {k: statistics.median(v) for k, v in runs.items()}
    emb, hid, layers, lin = CLF_SHAPE
    print(f"ULMFiT classifier, BatchNorm head (emb {emb}, hidden {hid}, {layers} layers, head {lin}, "
          f"B {CLF_BS} x {CLF_LEN - 2} tokens), seq/s: genolm 1 proc {med['genolm_1']:.0f}, 2 procs synced BN "
          f"{med['genolm_2_synced']:.0f} ({med['genolm_2_synced'] / med['genolm_1']:.2f}x), own-rank BN "
          f"{med['genolm_2_local']:.0f} ({med['genolm_2_local'] / med['genolm_1']:.2f}x); PyTorch 1 proc "
          f"{med['torch_1']:.0f}, DDP 2 procs {med['torch_2']:.0f} (own-rank BN; SyncBatchNorm is GPU-only); "
          f"genolm/PyTorch 1 proc {med['genolm_1'] / med['torch_1']:.2f}x, 2 procs own-rank "
          f"{med['genolm_2_local'] / med['torch_2']:.2f}x, synced {med['genolm_2_synced'] / med['torch_2']:.2f}x",
          flush=True)
    return {"tokens_per_sequence": CLF_LEN - 2, "batch": CLF_BS, "seq_per_s_median": med, "runs": runs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only-batch-norm", action="store_true", help="the BatchNorm classifier case alone")
    args = ap.parse_args()
    # The CPU pretraining config's shape (configs/lm-ecoli-cpu.toml) and a smaller one.
    shapes = {"emb 128, hidden 512, 2 layers, B 64 x bptt 70": (128, 512, 2, 64, 70),
              "emb 64, hidden 256, 2 layers, B 64 x bptt 70": (64, 256, 2, 64, 70)}
    results = {}
    with tempfile.TemporaryDirectory() as work:
        results["batch_norm_classifier"] = batch_norm_case(args.repeats, 100, work)
        for name, shape in ({} if args.only_batch_norm else shapes).items():
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
