#!/usr/bin/env python3
"""Test-set report of a task's classifiers (from the LM and naive) as Markdown: out/report-NAME.md.

Usage: scripts/report.py NAME   (reads out/clf-NAME*/test_metrics.json and metrics.jsonl)
"""
import json
import sys
from pathlib import Path

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
    lines += ["", "Plots (SVG and PNG in each directory): `roc`, `pr`, `confusion` (test set), `training` "
              "(loss and validation metrics per epoch)."]
    for label, d, r, s, seconds in rows:
        lines.append(f"- {label}: " + ", ".join(f"`{(d / p).relative_to(ROOT)}`" for p in
                                                 ("roc.png", "pr.png", "confusion.png", "training.png")))
    out = ROOT / f"out/report-{name}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nreport: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
