"""The 81 bp sigma70 promoter set (CNNPromoterData) without the sequences inside a held-out stretch of
NC_000913.3, for scanning that stretch with a classifier that never saw its labels.

Positives carry their NC_000913.3 span (Ecoli_prom.NC_000913.3.tsv); negatives (random CDS fragments
from the opposite strand) are located by exact match on either strand. A sequence is held out when
its span overlaps the stretch; a negative found nowhere in the genome is kept (it cannot lie in it).
Writes OUT/train.tsv (sequence, label) and OUT/heldout.json (counts).
Usage: python scripts/heldout_81bp.py DATA_DIR GENOME_FASTA START END OUT   (1-based, inclusive)
"""
import json
import sys
from pathlib import Path


def read_fasta(path):
    name, seqs = None, {}
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].strip()
            seqs[name] = []
        elif name is not None:
            seqs[name].append(line.strip().upper())
    return {k: "".join(v) for k, v in seqs.items()}


def revcomp(s):
    return s[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def main():
    data, genome_path, start, end, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
    genome = next(iter(read_fasta(genome_path).values()))
    overlaps = lambda a, b: a <= end and b >= start  # 1-based inclusive spans
    rows, held = [], {"promoter": 0, "non_promoter": 0}
    tsv = Path(data, "Ecoli_prom.NC_000913.3.tsv").read_text().splitlines()
    cols = tsv[0].split("\t")
    for line in tsv[1:]:
        f = dict(zip(cols, line.split("\t")))
        if overlaps(int(f["seq_start_NC_000913.3"]), int(f["seq_end_NC_000913.3"])):
            held["promoter"] += 1
            continue
        rows.append((f["sequence"], "promoter"))
    not_found = 0
    for seq in read_fasta(Path(data, "Ecoli_non_prom.fa")).values():
        spans = []
        for s in (seq, revcomp(seq)):
            i = genome.find(s)
            while i >= 0:
                spans.append((i + 1, i + len(s)))
                i = genome.find(s, i + 1)
        not_found += not spans
        if any(overlaps(a, b) for a, b in spans):
            held["non_promoter"] += 1
            continue
        rows.append((seq, "non_promoter"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.tsv").write_text("sequence\tlabel\n" + "".join(f"{s}\t{l}\n" for s, l in rows))
    summary = {"stretch": [start, end], "held_out": held, "kept": len(rows),
               "negatives_not_in_genome": not_found}
    (out / "heldout.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
