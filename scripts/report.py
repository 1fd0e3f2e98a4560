#!/usr/bin/env python3
"""Test-set report of a task's classifiers (from the LM and naive) as Markdown: out/report-NAME.md.

Usage: scripts/report.py NAME   (reads out/clf-NAME*/test_metrics.json and metrics.jsonl)
"""
import json
import sys
from pathlib import Path

from task_runs import last_validation

ROOT = Path(__file__).resolve().parent.parent


def main():
    name = sys.argv[1]
    rows = []
    for d in (ROOT / f"out/clf-{name}", ROOT / f"out/clf-{name}-naive"):
        f = d / "test_metrics.json"
        if not f.exists():
            continue
        lm = json.loads((d / "config.json").read_text())["config"].get("lm")
        label = f"from the LM `{lm}`" if lm else "naive (random encoder)"
        r = json.loads(f.read_text())
        s = r["summary"]
        log = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines() if line.strip()]
        seconds = log[-1].get("seconds", float("nan")) if log else float("nan")
        rows.append((label, d, r, s, seconds))
    if not rows:
        sys.exit(f"no classifier results in out/clf-{name}*")
    positive = rows[0][2]["classes"][-1]
    lines = [f"# {name}: test-set results", "",
             f"{rows[0][2]['n']} test sequences; positive class `{positive}`.", "",
             "| classifier | accuracy | precision | recall | specificity | F1 | MCC | AUROC | AUPRC | training |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, d, r, s, seconds in rows:
        lines.append(f"| {label} (`{d.relative_to(ROOT)}`) | {r['accuracy']:.3f} | {s['precision']:.3f} | "
                     f"{s['recall']:.3f} | {s['specificity']:.3f} | {s['f1']:.3f} | **{s['mcc']:.3f}** | "
                     f"{s['auroc']:.3f} | {s['auprc']:.3f} | {seconds:.0f} s |")
    lines += verdict(name, rows)
    lines += ["", "Plots (SVG and PNG in each directory): `roc`, `pr`, `confusion` (test set), `training` "
              "(loss and validation metrics per epoch)."]
    for label, d, r, s, seconds in rows:
        lines.append(f"- {label}: " + ", ".join(f"`{(d / p).relative_to(ROOT)}`" for p in
                                                 ("roc.png", "pr.png", "confusion.png", "training.png")))
    out = ROOT / f"out/report-{name}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nreport: {out.relative_to(ROOT)}")


def lm_summary(lm):
    """The pretrained LM behind a classifier: its validation loss, baseline, tokens and time."""
    last = last_validation(ROOT / lm)
    if last is None:
        return None
    return (f"`{lm}` (validation loss {last['valid_loss']:.3f} against the informed-random baseline "
            f"{last['baseline_loss']:.3f}; {last['tokens'] / 1e6:.1f}M tokens in {last['seconds'] / 60:.1f} min)")


def split_rows(name, main_rows):
    """(seed, MCC from the LM, naive MCC) for the config's split and each split of
    scripts/split-spread.sh newer than the classifier's LM (older ones came from another LM)."""
    by_label = {label.startswith("naive"): (d, r) for label, d, r, _, _ in main_rows}
    if set(by_label) != {False, True}:
        return []
    (clf, r), (_, rn) = by_label[False], by_label[True]
    cfg = json.loads((clf / "config.json").read_text())["config"]
    out = [(cfg["split"]["seed"], r["summary"]["mcc"], rn["summary"]["mcc"])]
    lm_model = ROOT / cfg["lm"] / "model.safetensors"
    spread = ROOT / f"out/split-spread-{name}"
    for d in sorted(spread.glob("clf-s*")):
        seed = d.name[len("clf-s"):]
        naive = spread / f"naive-s{seed}" / "test_metrics.json"
        if not ((d / "test_metrics.json").exists() and naive.exists()):
            continue
        if lm_model.exists() and (d / "model.safetensors").stat().st_mtime < lm_model.stat().st_mtime:
            continue
        if int(seed) == out[0][0]:
            continue
        out.append((int(seed), json.loads((d / "test_metrics.json").read_text())["summary"]["mcc"],
                    json.loads(naive.read_text())["summary"]["mcc"]))
    return out


def curve_table(name):
    """The pretraining curve's points for this task (docs/pretraining-curve.tsv, the committed
    copy of scripts/pretraining-curve.sh's curve.tsv) as a Markdown table."""
    path = ROOT / "docs/pretraining-curve.tsv"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, line.split("\t"))) for line in lines[1:] if line.strip()]
    rows = [r for r in rows if r["task"] == name]
    if not rows:
        return []
    out = ["| LM (tokenization, LSTM, corpus) | tokens seen | pretraining, min on 2 cores | MCC from the LM | naive MCC |",
           "|---|---|---|---|---|"]
    for series in dict.fromkeys(r["series"] for r in rows):
        for r in sorted((r for r in rows if r["series"] == series), key=lambda r: float(r["pretrain_min"])):
            n = int(r["lm_tokens"])
            tokens = f"{n / 1e6:.2f}M" if n >= 10_000 else f"{n / 1e3:.1f}k"
            out.append(f"| {series} | {tokens} | {float(r['pretrain_min']):.2f} | "
                       f"{float(r['mcc_mean']):.3f} | {float(r['naive_mcc_mean']):.3f} |")
    return out


def verdict(name, rows):
    """What the numbers mean, in words: gain from pretraining or not, over how many splits."""
    splits = split_rows(name, rows)
    if not splits:
        return []
    lm = json.loads((rows[0][1] / "config.json").read_text())["config"].get("lm")
    gains = [a - b for _, a, b in splits]
    mean = sum(gains) / len(gains)
    lines = ["", "## Does pretraining pay off here?", ""]
    if len(splits) > 1:
        lines += ["| split seed | MCC from the LM | MCC naive | gain |", "|---|---|---|---|"]
        lines += [f"| {s} | {a:.3f} | {b:.3f} | {a - b:+.3f} |" for s, a, b in splits]
        mean_a = sum(a for _, a, _ in splits) / len(splits)
        mean_b = sum(b for _, _, b in splits) / len(splits)
        lines += [f"| **mean** | **{mean_a:.3f}** | **{mean_b:.3f}** | **{mean:+.3f}** |", ""]
    where = f"mean over {len(splits)} random splits" if len(splits) > 1 else "one split"
    every = all(g > 0 for g in gains)
    if mean >= 0.05 and every:
        words = (f"**Yes.** The classifier from the pretrained language model beats the naive one of the same "
                 f"shape, tokenization and epochs by **{mean:+.3f} MCC** ({where}"
                 f"{'; it wins on every split' if len(splits) > 1 else ''}). "
                 "The naive classifier learns only from the labelled sequences; the language model first read the "
                 "genome without labels (as in Genomic-ULMFiT, that genome contains the task's windows).")
    elif mean > 0:
        words = (f"**A small gain:** {mean:+.3f} MCC ({where}"
                 f"{'' if every else '; not on every split'}), within what a different split can move.")
    else:
        words = (f"**No gain:** {mean:+.3f} MCC ({where}). The language model is too small or too short "
                 "to know more than the labelled windows teach a random encoder.")
    lines.append(words)
    summary = lm_summary(lm) if lm else None
    if summary:
        lines += ["", f"Language model: {summary}."]
    more = ("More pretraining: `scripts/pretraining-curve.sh` measures classifier MCC against minutes "
            "of pretraining for several LM sizes and tokenizations (figure and table in README.md and "
            "BENCHMARKS.md)")

    if name.startswith("ecoli-"):
        more += (f"; `scripts/reproduce.sh {name} --paper-lm` pretrains Genomic-ULMFiT's model size "
                 "(about two hours on 2 cores)")
    lines += ["", more + "."]
    curve = curve_table(name)
    if curve:
        lines += ["", "What the curve measured on this task (means over 3 random splits; the 4.7k-token row "
                  "is an LM after a single step, still random: the control):", ""] + curve
    return lines


if __name__ == "__main__":
    main()
