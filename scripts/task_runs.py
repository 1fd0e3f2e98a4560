#!/usr/bin/env python3
"""Helpers the task scripts share (split-spread.sh, pretraining_curve.py, report.py).

As a command: scripts/task_runs.py split-seed SRC DST SEED writes SRC's config with its [split]
seed set to SEED (what `genolm finetune-lm --task` needs, as it reads the split from the file).
"""
import json
import re
import sys
from pathlib import Path


def with_split_seed(src, dst, seed):
    """Writes the task config `src` to `dst` with its [split] seed set to `seed` ([split] comes
    before [train], whose seed stays)."""
    text = Path(src).read_text()
    split = re.search(r"^\[split\]\n(?:(?!\[).*\n)*", text, re.M)
    if not split or "seed =" not in split.group(0):
        sys.exit(f"{src}: no [split] seed to vary")
    block = re.sub(r"^seed = .*$", f"seed = {seed}", split.group(0), count=1, flags=re.M)
    Path(dst).write_text(text[: split.start()] + block + text[split.end():])


def last_validation(lm_dir):
    """The last row of a model dir's metrics.jsonl that has a validation loss, or None."""
    path = Path(lm_dir) / "metrics.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    valid = [r for r in rows if "valid_loss" in r]
    return valid[-1] if valid else None


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "split-seed":
        sys.exit(__doc__)
    with_split_seed(*sys.argv[2:])
