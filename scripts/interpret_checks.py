#!/usr/bin/env python3
"""Checks behind scripts/interpret.sh (issue #23), on genolm's own outputs.

  positives TEST_PREDICTIONS SEQUENCES LABELS OUT.fa   positive test sequences of a lines data set
  planted SALIENCY.tsv MOTIF                           top window of each sequence vs the planted motif
  profile PROFILE.tsv                                  where the mean attribution peaks (vs -35, -10)
  closest COMPARE.tsv KNOWN...                         per known motif, the discovered motif closest to it
"""
import sys


def positives(pred, seqs_path, labels_path, out):
    seqs = open(seqs_path).read().split()
    labels = open(labels_path).read().split()
    n = 0
    with open(out, "w") as f:
        for line in open(pred).read().splitlines()[1:]:
            rid, label = line.split("\t")[:2]
            i = int(rid.removeprefix("seq")) - 1  # ids are 1-based line numbers
            assert labels[i] == label, f"{rid}: label {label} but line says {labels[i]}"
            if label == "1":
                f.write(f">{rid}\n{seqs[i]}\n")
                n += 1
    print(f"{n} positive test sequences -> {out}")


def tracks(path):
    out = {}
    for line in open(path).read().splitlines()[1:]:
        i, _, b, s = line.split("\t")
        out.setdefault(i, ([], []))
        out[i][0].append(b)
        out[i][1].append(float(s))
    return out


def planted(path, motif):
    w = len(motif)
    hits, n, exact = 0, 0, 0
    for bases, scores in tracks(path).values():
        sums = [sum(scores[j : j + w]) for j in range(len(scores) - w + 1)]
        j = max(range(len(sums)), key=sums.__getitem__)
        window = "".join(bases[j : j + w])
        same = sum(a == b for a, b in zip(window, motif))
        hits += same >= w - 2
        exact += same == w
        n += 1
    print(f"{hits}/{n} = {hits / n:.3f} top-{w} windows match {motif} in >= {w - 2} bases ({exact} exactly)")


def profile(path):
    rows = [l.split("\t") for l in open(path).read().splitlines()[1:]]
    rel = [int(r[1]) for r in rows]
    val = [float(r[2]) for r in rows]
    def smooth(i):
        lo, hi = max(0, i - 2), min(len(val), i + 4)  # a 6-base window starting at i
        return sum(val[lo:hi]) / (hi - lo)
    win = [smooth(i) for i in range(len(val))]
    order = sorted(range(len(val)), key=lambda i: -win[i])
    peaks = []  # distinct peaks: windows at least 8 bases from every stronger one
    for i in order:
        if all(abs(i - j) >= 8 for j in peaks):
            peaks.append(i)
    print("strongest 6-base windows (start relative to the TSS: mean):",
          ", ".join(f"{rel[i]:+d}: {win[i]:.4f}" for i in peaks[:3]))
    for name, lo, hi in (("-35 box", -38, -28), ("-10 box", -15, -5)):
        inside = [k for k, i in enumerate(peaks) if lo <= rel[i] <= hi]
        if inside:
            i = peaks[inside[0]]
            print(f"  {name} ({lo}..{hi}): peak at {rel[i]:+d} ({win[i]:.4f}), "
                  f"rank {inside[0] + 1} of {len(peaks)} distinct peaks")
        else:
            print(f"  {name} ({lo}..{hi}): no distinct peak")


def closest(path, *known):
    rows = [l.split("\t") for l in open(path).read().splitlines()[1:]]
    for k in known:
        best = max((r for r in rows if r[4] == k), key=lambda r: float(r[6]))
        print(f"{k} ({best[5]}): closest discovered motif {best[0]} {best[1]} ({best[2]} sites), "
              f"similarity {best[6]}; it is that motif's best known match: {best[3] == '1'}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"positives": positives, "planted": planted, "profile": profile, "closest": closest}[cmd](*args)
