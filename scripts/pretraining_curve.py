#!/usr/bin/env python3
"""Classifier MCC against language-model pretraining compute (issue #22).

For each pretraining arm (a tokenization, an LM shape and a pretraining budget) this pretrains
an LM, then on each task and each random split fine-tunes it on the split's train+valid
sequences (ULMFiT's second step) and trains a classifier from it; the naive classifier of the
same shape, tokenization and epochs is trained on the same splits once per shape. Every step's
wall time and CPU time are recorded, so the curve's x axis is what a user pays.

Steps whose output exists are reused (delete a directory to redo it). Results: OUT/results.jsonl
(one row per classifier), OUT/curve.tsv (mean and spread per arm and task); `genolm plot
pretraining-curve` draws the figure from curve.tsv.

Usage: scripts/pretraining_curve.py --arms ARMS.json [--tasks T ...] [--splits 1 2 3] [--out DIR]
ARMS.json: a list of {"name", "k", "stride", "corpus" (a corpus config), "model" {emb_size,
hidden_size, n_layers}, "pretrain" [--set values for configs/lm-ecoli-cpu.toml], "finetune"
[--set values], "stages" (the LM classifier's TOML stages), "naive_stages"}.
"""
import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from task_runs import last_validation, with_split_seed

G = "target/release/genolm"
TASKS = {
    # name: (classifier config, naive config)
    "ecoli-cds-promoters": ("configs/ecoli-cds-promoters.toml", "configs/ecoli-cds-promoters-naive.toml"),
    "ecoli-promoters-81bp": ("configs/ecoli-promoters-81bp.toml", "configs/ecoli-promoters-81bp-naive.toml"),
}


def run(cmd, log):
    """Runs cmd, appending its output to log; returns (wall seconds, CPU seconds of children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.time() - start, cpu


def timed_once(dir_, done_file, cmd, log):
    """Runs cmd unless dir_/done_file exists; the timing is kept in dir_/timing.json."""
    timing = os.path.join(dir_, "timing.json")
    if os.path.exists(os.path.join(dir_, done_file)) and os.path.exists(timing):
        return json.load(open(timing))
    subprocess.run(["rm", "-rf", dir_], check=True)
    wall, cpu = run(cmd, log)
    t = {"wall_s": wall, "cpu_s": cpu}
    json.dump(t, open(timing, "w"))
    return t


def stages_arg(stages):
    return "train.stages=[" + ", ".join(
        "{ unfreeze = %d, epochs = %d, lr = %g }" % (s["unfreeze"], s["epochs"], s["lr"]) for s in stages
    ) + "]"


def shape_sets(arm):
    m = arm["model"]
    return [f"model.emb_size={m['emb_size']}", f"model.hidden_size={m['hidden_size']}", f"model.n_layers={m['n_layers']}"]


def sets(values):
    out = []
    for v in values:
        out += ["--set", v]
    return out


def pretrain(arm, out, log):
    source = os.path.basename(arm["corpus"]).removesuffix(".toml").removeprefix("corpus-")
    corpus = f"{out}/corpus-{source}-k{arm['k']}s{arm['stride']}"
    if not os.path.exists(f"{corpus}/corpus.toml"):
        run([G, "corpus", "build", "--config", arm["corpus"], "--k", str(arm["k"]), "--stride",
             str(arm["stride"]), "--out", corpus, "--force", "--quiet"], log)
    lm = f"{out}/{arm['name']}/lm"
    os.makedirs(f"{out}/{arm['name']}", exist_ok=True)
    cmd = [G, "pretrain", "--config", arm.get("lm_config", "configs/lm-ecoli-cpu.toml"), "--out", lm,
           "--quiet", "--set", f'corpus="{corpus}"'] + sets(shape_sets(arm) + arm.get("pretrain", []))
    return lm, timed_once(lm, "model.safetensors", cmd, log)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arms", required=True)
    ap.add_argument("--tasks", nargs="+", default=["ecoli-cds-promoters"])
    ap.add_argument("--splits", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--out", default="out/pretraining-curve")
    a = ap.parse_args()
    arms = json.load(open(a.arms))
    os.makedirs(a.out, exist_ok=True)
    log = f"{a.out}/log.txt"
    results = f"{a.out}/results.jsonl"
    # Rewritten from the (cached) runs each time, so it holds exactly the arms of this file.
    open(results, "w").close()
    for arm in arms:
        lm, lm_t = pretrain(arm, a.out, log)
        last = last_validation(lm) or {}
        shape = "e{emb_size}h{hidden_size}l{n_layers}".format(**arm["model"])
        for task in a.tasks:
            for split in a.splits:
                base = f"{a.out}/{arm['name']}/{task}-s{split}"
                clf_cfg, naive_cfg = TASKS[task]
                split_sets = [f"split.seed={split}"]
                ft = f"{base}/lm"
                os.makedirs(base, exist_ok=True)
                ft_t = {"wall_s": 0, "cpu_s": 0}
                init = lm
                if arm.get("finetune") is not None:
                    # finetune-lm reads the split from the task config: a copy with this seed.
                    cfg = f"{base}/task.toml"
                    with_split_seed(clf_cfg, cfg, split)
                    ft_t = timed_once(ft, "model.safetensors", [G, "finetune-lm", "--model", lm, "--task", cfg,
                                                                "--out", ft, "--quiet"] + sets(arm["finetune"]), log)
                    init = ft
                clf = f"{base}/clf"
                clf_t = timed_once(clf, "test_metrics.json",
                                   [G, "classify", "train", "--config", clf_cfg, "--out", clf, "--quiet", "--json"]
                                   + sets(split_sets + [f'lm="{init}"', "train.precision=auto",
                                                        stages_arg(arm["stages"])]), log)
                # One naive classifier per tokenization, shape and schedule, shared by the arms.
                schedule = hashlib.sha256(stages_arg(arm["naive_stages"]).encode()).hexdigest()[:8]
                naive_name = f"naive-k{arm['k']}s{arm['stride']}-{shape}-{schedule}"
                naive = f"{a.out}/{naive_name}/{task}-s{split}"
                os.makedirs(os.path.dirname(naive), exist_ok=True)
                naive_t = timed_once(naive, "test_metrics.json",
                                     [G, "classify", "train", "--config", naive_cfg, "--out", naive, "--quiet",
                                      "--json"] + sets(split_sets + shape_sets(arm) + [
                                          f"k={arm['k']}", f"stride={arm['stride']}", "train.precision=auto",
                                          stages_arg(arm["naive_stages"])]), log)
                m = json.load(open(f"{clf}/test_metrics.json"))
                n = json.load(open(f"{naive}/test_metrics.json"))
                row = {
                    "arm": arm["name"], "series": arm.get("series", shape), "task": task, "split": split, "k": arm["k"], "stride": arm["stride"],
                    "shape": shape, "lm_valid_loss": last.get("valid_loss"), "lm_baseline_loss": last.get("baseline_loss"),
                    "lm_tokens": last.get("tokens"), "pretrain_wall_s": lm_t["wall_s"], "pretrain_cpu_s": lm_t["cpu_s"],
                    "finetune_wall_s": ft_t["wall_s"], "clf_wall_s": clf_t["wall_s"], "naive_wall_s": naive_t["wall_s"],
                    "mcc": m["summary"]["mcc"], "auroc": m["summary"]["auroc"], "accuracy": m["accuracy"],
                    "naive_mcc": n["summary"]["mcc"], "naive_auroc": n["summary"]["auroc"],
                }
                with open(results, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    summarize(results, f"{a.out}/curve.tsv")


def summarize(results, dst):
    rows = {}
    for line in open(results):
        r = json.loads(line)
        rows[(r["arm"], r["task"], r["split"])] = r  # the latest row of each
    groups = {}
    for (arm, task, _), r in rows.items():
        groups.setdefault((arm, task), []).append(r)
    cols = ["arm", "series", "task", "splits", "shape", "k", "stride", "lm_tokens", "lm_valid_loss", "pretrain_min",
            "pretrain_cpu_min", "mcc_mean", "mcc_sd", "naive_mcc_mean", "naive_mcc_sd", "gain_mean", "gain_min"]
    lines = ["\t".join(cols)]
    for (arm, task), rs in groups.items():
        mcc = [r["mcc"] for r in rs]
        nm = [r["naive_mcc"] for r in rs]
        gain = [x - y for x, y in zip(mcc, nm)]
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        r0 = rs[0]
        vals = [arm, r0["series"], task, len(rs), r0["shape"], r0["k"], r0["stride"], r0["lm_tokens"],
                "%.4f" % r0["lm_valid_loss"] if r0["lm_valid_loss"] else "", "%.2f" % (r0["pretrain_wall_s"] / 60),
                "%.2f" % (r0["pretrain_cpu_s"] / 60), "%.4f" % statistics.mean(mcc), "%.4f" % sd(mcc),
                "%.4f" % statistics.mean(nm), "%.4f" % sd(nm), "%.4f" % statistics.mean(gain), "%.4f" % min(gain)]
        lines.append("\t".join(str(v) for v in vals))
    open(dst, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
