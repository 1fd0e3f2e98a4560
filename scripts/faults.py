#!/usr/bin/env python3
"""Fault injection for genolm (scripts/faults.sh runs it; outside the test suite).

For each command (corpus build, pretrain, classify train, cnn train, predict, scan, variants score):
  * a reference run, uninterrupted, and its wall time T;
  * kill -9 at uniformly random moments in [0, 1.1 T] until --kills kills have landed on a live
    process. After every kill, each output under its final name is absent or whole: byte-equal to
    the reference (volatile lines, timings and dates, aside) for one-shot commands; for training,
    every file under a final name parses and the checkpoint loads. The next attempt reuses the same
    --out (a dead run's lock is taken over); training resumes from its checkpoint where there is one;
  * at the end a complete run: outputs equal the reference, training's weights equal the
    uninterrupted run's (max |difference| reported), and nothing is left beside the outputs
    (no staging directory, temporary file or lock).
Then two runs on one --out at once (the second must refuse, the first finish whole) and full disks
(a small tmpfs as the output, root only): a clear error naming the file, nothing under a final
name, the input untouched; a training run that fills its disk resumes once space is freed and ends
with the reference weights.

Prints one line per case and a summary; exits 1 if any check failed. Results: WORK/faults.json.
Usage: scripts/faults.py [--kills 20] [--only CASE ...] [--work out/faults] [--seed 1]
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
G = ROOT / "target/release/genolm"
DATA = ROOT.parent / "shared/data"
CHR20 = DATA / "human_grch37_chr20/20.fa.gz"
ECOLI = DATA / "ecoli-k12-mg1655/GCF_000005845.2_ASM584v2_genomic.fna"
PRIMER = DATA / "deep-learning-genomics-primer"
VCF = DATA / "human_grch37_chr20/variants_1000g/reference.vcf.gz"

# Lines whose content legitimately differs between two identical runs (times, dates, throughput).
VOLATILE = re.compile(rb"seconds|_per_s|created|rss|elapsed|date|started|finished|host|pid")
# What a run writes beside its outputs while at work; none may remain after a complete run.
LEFTOVER = re.compile(r"^\..*\.(lock|(partial|tmp|old)-\d+)$|\.partial\.safetensors$")


class Failed(Exception):
    pass


def run(cmd, log, kill_at=None, env=None):
    """Runs cmd; with kill_at, SIGKILLs it after that many seconds. Returns (rc or 'killed', seconds)."""
    started = time.monotonic()
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(map(str, cmd)) + "\n").encode())
        out.flush()
        p = subprocess.Popen(list(map(str, cmd)), stdout=out, stderr=out, env=env)
        try:
            rc = p.wait(timeout=kill_at)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            out.write(b"[faults] killed -9\n")
            return "killed", time.monotonic() - started
    return rc, time.monotonic() - started


def must(cmd, log, what):
    rc, secs = run(cmd, log)
    if rc != 0:
        raise Failed(f"{what} failed (exit {rc}); see {log}")
    return secs


def normalized(path):
    data = path.read_bytes()
    if path.suffix in (".json", ".toml", ".jsonl", ".md", ".txt") or path.name.endswith(".summary.json"):
        return b"\n".join(l for l in re.split(rb"[\n,]", data) if not VOLATILE.search(l))
    if path.suffix in (".png", ".svg"):
        return b"picture"  # drawn from the same numbers; fonts and rasteriser bytes may differ
    return data


def tree(path):
    """{relative name: normalized bytes} of a file or directory."""
    if path.is_file():
        return {"": normalized(path)}
    return {
        str(p.relative_to(path)): normalized(p)
        for p in sorted(path.rglob("*"))
        if p.is_file() and not LEFTOVER.search(p.name)
    }


def same(path, ref):
    a, b = tree(path), tree(ref)
    if a.keys() != b.keys():
        return f"files differ: {sorted(set(a) ^ set(b))}"
    bad = [k for k in a if a[k] != b[k]]
    return f"contents differ: {bad}" if bad else None


def leftovers(parent):
    return sorted(p.name for p in Path(parent).iterdir() if LEFTOVER.search(p.name))


def safetensors(path):
    """{name: (dtype, shape, bytes)}; raises if the file is cut short or malformed."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        if b > len(body):
            raise ValueError(f"{path}: {name} reaches past the end ({b} > {len(body)})")
        out[name] = (meta["dtype"], meta["shape"], body[a:b])
    return out


def max_abs_diff(a_path, b_path):
    a, b = safetensors(a_path), safetensors(b_path)
    if a.keys() != b.keys():
        raise Failed(f"{a_path} and {b_path} hold different tensors")
    worst = 0.0
    for name, (dtype, shape, raw) in a.items():
        other = b[name]
        if (dtype, shape) != other[:2]:
            raise Failed(f"{name}: {dtype}{shape} vs {other[0]}{other[1]}")
        if raw == other[2]:
            continue
        if dtype != "F32":
            return float("inf")
        x, y = array("f", raw), array("f", other[2])
        worst = max(worst, max(abs(p - q) for p, q in zip(x, y)))
    return worst


def check_training_dir(d):
    """Every file under a final name in a training directory is whole."""
    for p in d.rglob("*"):
        # Hidden names (staging directories, temporary files, the lock) are work in progress.
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(d).parts):
            continue
        try:
            if p.suffix == ".safetensors":
                safetensors(p)
            elif p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".jsonl":
                for line in p.read_text().splitlines():
                    json.loads(line)
        except Exception as e:  # noqa: BLE001 -- any parse failure is the finding
            raise Failed(f"half-written file under its final name: {p}: {e}")


# ---------------------------------------------------------------------------------------------
# Fixtures: small real-data jobs of a few seconds each.


def fixtures(w, log):
    fx = {}
    fx["corpus3"] = w / "fx/corpus-ecoli-k3"
    if not (fx["corpus3"] / "tokens.bin").exists():
        must([G, "corpus", "build", "--fasta", ECOLI, "--k", "3", "--stride", "3", "--doc-len", "2000",
              "--valid-frac", "0.1", "--out", fx["corpus3"], "--quiet", "--force"], log, "fixture corpus")
    fx["lm_cfg"] = w / "fx/lm.toml"
    fx["lm_cfg"].write_text(f"""corpus = "{fx['corpus3']}"
[model]
emb_size = 32
hidden_size = 128
n_layers = 2
[train]
batch_size = 16
bptt = 35
epochs = 2
max_steps = 500
lr = 1e-2
seed = 7
threads = 1
precision = "fp32"
log_every = 5
checkpoint_every = 10
valid_max_batches = 20
""")
    fx["clf_cfg"] = w / "fx/classify.toml"
    fx["clf_cfg"].write_text(f"""k = 3
stride = 1
drop_mult = 0.2
[data]
format = "lines"
sequences = "{PRIMER / 'sequences.txt'}"
labels = "{PRIMER / 'labels.txt'}"
[split]
valid_frac = 0.1
test_frac = 0.25
seed = 42
[model]
emb_size = 32
hidden_size = 64
n_layers = 2
[head]
lin_size = 32
[train]
batch_size = 32
stages = [{{ unfreeze = 0, epochs = 4, lr = 1e-2 }}]
seed = 42
threads = 1
precision = "fp32"
""")
    fx["cnn_cfg"] = w / "fx/cnn.toml"
    text = (ROOT / "configs/cnn-primer.toml").read_text()
    text = text.replace("../shared/data/deep-learning-genomics-primer", str(PRIMER))
    text = text.replace("epochs = 30", "epochs = 12").replace("[train]\n", "[train]\nthreads = 1\nprecision = \"fp32\"\n")
    fx["cnn_cfg"].write_text(text)
    fx["clf"] = w / "fx/clf"
    if not (fx["clf"] / "model.safetensors").exists():
        shutil.rmtree(fx["clf"], ignore_errors=True)
        must([G, "classify", "train", "--config", fx["clf_cfg"], "--out", fx["clf"], "--quiet"], log, "fixture classifier")
    fx["cnn"] = w / "fx/cnn"
    if not (fx["cnn"] / "model.safetensors").exists():
        shutil.rmtree(fx["cnn"], ignore_errors=True)
        must([G, "cnn", "train", "--config", fx["cnn_cfg"], "--out", fx["cnn"], "--quiet"], log, "fixture CNN")
    # 20,000 50 bp windows of E. coli for predict.
    fx["fasta"] = w / "fx/windows.fa"
    if not fx["fasta"].exists():
        seq = "".join(l.strip() for l in ECOLI.read_text().splitlines()[1:])
        with open(fx["fasta"], "w") as f:
            for i in range(20000):
                s = i * 97
                f.write(f">w{i}\n{seq[s:s + 50]}\n")
    return fx


# ---------------------------------------------------------------------------------------------
# Cases.


class Case:
    """A command whose outputs are written once (corpus build, predict, scan, variants score)."""

    training = False

    def __init__(self, name, w, fx):
        self.name, self.w, self.fx = name, w / name, fx
        self.w.mkdir(parents=True, exist_ok=True)

    def outputs(self):
        """Final paths the command writes."""
        raise NotImplementedError

    def command(self, resume=False):
        raise NotImplementedError

    def inputs(self):
        return []


class CorpusBuild(Case):
    def outputs(self):
        return [self.w / "out/corpus"]

    def inputs(self):
        return [CHR20]

    def command(self, resume=False):
        return [G, "corpus", "build", "--fasta", CHR20, "--k", "6", "--stride", "1", "--doc-len", "10000",
                "--valid-frac", "0.1", "--out", self.w / "out/corpus", "--quiet", "--force"]


class Predict(Case):
    def outputs(self):
        return [self.w / "out/predictions.tsv"]

    def inputs(self):
        return [self.fx["fasta"]]

    def command(self, resume=False):
        return [G, "predict", "--model", self.fx["clf"], "--fasta", self.fx["fasta"], "--out",
                self.w / "out/predictions.tsv", "--rc-average", "--chunk", "512"]


class Scan(Case):
    PREFIX = "out/scan"

    def outputs(self):
        # Tracks, calls and summary, named by the class: as the reference run wrote them.
        return [self.w / "out" / p.name for p in sorted((self.w / "ref").iterdir())]

    def inputs(self):
        return [ECOLI]

    def command(self, resume=False):
        return [G, "scan", "--model", self.fx["cnn"], "--genome", ECOLI, "--region", "NC_000913.3:1-1500000",
                "--step", "5", "--threshold", "0.9", "--out", self.w / self.PREFIX]


class VariantsScore(Case):
    def outputs(self):
        return [self.w / "out/variants.tsv"]

    def inputs(self):
        return [VCF, CHR20]

    def command(self, resume=False):
        return [G, "variants", "score", "--model", self.fx["cnn"], "--vcf", VCF, "--genome", CHR20,
                "--out", self.w / "out/variants.tsv", "--strand", "both"]


class Training(Case):
    training = True
    SUB = None
    CFG = None

    def outputs(self):
        return [self.w / "out/model"]

    def command(self, resume=False):
        out = self.w / "out/model"
        if resume:
            return [G, *self.SUB, "--resume", out, "--quiet"]
        return [G, *self.SUB, "--config", self.fx[self.CFG], "--out", out, "--quiet"]


class Pretrain(Training):
    SUB, CFG = ["pretrain"], "lm_cfg"


class ClassifyTrain(Training):
    SUB, CFG = ["classify", "train"], "clf_cfg"


class CnnTrain(Training):
    SUB, CFG = ["cnn", "train"], "cnn_cfg"


CASES = {
    "corpus-build": CorpusBuild,
    "pretrain": Pretrain,
    "classify-train": ClassifyTrain,
    "cnn-train": CnnTrain,
    "predict": Predict,
    "scan": Scan,
    "variants-score": VariantsScore,
}


def digest(paths):
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def reference(case, log):
    """Runs the command uninterrupted; its outputs move to ref/ (same names, for comparing)."""
    out = case.w / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    secs = must(case.command(), log, f"{case.name} reference run")
    ref = case.w / "ref"
    shutil.rmtree(ref, ignore_errors=True)
    out.rename(ref)
    return secs


def ref_of(case, path):
    return case.w / "ref" / path.relative_to(case.w / "out")


def kill_oneshot(case, kills, rng, log):
    """Kills landed, and one complete run checked at the end."""
    landed = attempts = 0
    out = case.w / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    while landed < kills:
        attempts += 1
        if attempts > kills * 4:
            raise Failed(f"only {landed} of {kills} kills landed in {attempts} attempts")
        if rng.random() < 0.3:
            # Sometimes from nothing, sometimes replacing a complete earlier output.
            for p in case.outputs():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        rc, _ = run(case.command(), log, kill_at=rng.uniform(0, 1.1 * case.seconds))
        if rc == "killed":
            landed += 1
        elif rc != 0:
            raise Failed(f"attempt {attempts} exited {rc}; see {log}")
        for p in case.outputs():
            if p.exists():
                diff = same(p, ref_of(case, p))
                if diff:
                    raise Failed(f"after {'a kill' if rc == 'killed' else 'a run'}: {p} is not whole: {diff}")
    must(case.command(), log, f"{case.name} final run")
    for p in case.outputs():
        diff = same(p, ref_of(case, p))
        if diff:
            raise Failed(f"final {p}: {diff}")
    left = leftovers(out)
    if left:
        raise Failed(f"left beside the outputs after a complete run: {left}")
    return {"kills": landed, "attempts": attempts}


def kill_training(case, kills, rng, log):
    """Sequences of fresh run -> kills and resumes -> completion; each completed weight set is
    compared with the uninterrupted run's."""
    landed = attempts = completed = 0
    diffs = []
    out = case.w / "out/model"
    ref_model = case.w / "ref/model/model.safetensors"
    while landed < kills:
        shutil.rmtree(case.w / "out", ignore_errors=True)
        (case.w / "out").mkdir(parents=True)
        kills_this = 0
        while True:
            if (out / "model.safetensors").exists() and not (out / "train_state").is_dir():
                break  # a classifier killed after its last write: complete (the checkpoint goes last)
            attempts += 1
            if attempts > kills * 6:
                raise Failed(f"only {landed} of {kills} kills landed in {attempts} attempts")
            resume = (out / "train_state").is_dir()
            rc, _ = run(case.command(resume), log, kill_at=rng.uniform(0, 1.1 * case.seconds))
            if rc == "killed":
                landed += 1
                kills_this += 1
                if out.exists():
                    check_training_dir(out)
                continue
            if rc != 0:
                raise Failed(f"attempt {attempts} ({'resume' if resume else 'fresh'}) exited {rc}; see {log}")
            break
        check_training_dir(out)
        if kills_this:
            d = max_abs_diff(out / "model.safetensors", ref_model)
            diffs.append(d)
            completed += 1
            if d > 1e-5:
                raise Failed(f"resumed run after {kills_this} kills ends {d:g} from the uninterrupted weights")
        left = leftovers(out) + leftovers(case.w / "out")
        if left:
            raise Failed(f"left beside the outputs after a complete run: {left}")
    return {"kills": landed, "attempts": attempts, "resumed_runs_completed": completed,
            "max_abs_weight_diff": max(diffs) if diffs else None}


def kill_case(case, kills, rng, log):
    before = digest(case.inputs())
    case.seconds = reference(case, log)
    r = (kill_training if case.training else kill_oneshot)(case, kills, rng, log)
    if digest(case.inputs()) != before:
        raise Failed("an input changed")
    r["reference_seconds"] = round(case.seconds, 2)
    return r


# ---------------------------------------------------------------------------------------------
# Two runs on one --out.


def concurrent(case, log):
    """The first run is paused (SIGSTOP) once it holds its lock; the second must refuse; the first,
    resumed, must finish with the reference output."""
    shutil.rmtree(case.w / "out", ignore_errors=True)
    (case.w / "out").mkdir(parents=True)
    target = case.outputs()[0]
    lock = target.with_name(f".{target.name}.lock")
    with open(log, "ab") as f:
        first = subprocess.Popen(list(map(str, case.command())), stdout=f, stderr=f)
    deadline = time.monotonic() + 30
    while not lock.exists():
        if first.poll() is not None or time.monotonic() > deadline:
            raise Failed("the first run never took its lock")
        time.sleep(0.001)
    first.send_signal(signal.SIGSTOP)
    second = subprocess.run(list(map(str, case.command())), capture_output=True, text=True)
    first.send_signal(signal.SIGCONT)
    rc = first.wait()
    if second.returncode == 0 or "another genolm run" not in second.stderr:
        raise Failed(f"the second run did not refuse: exit {second.returncode}: {second.stderr.strip()}")
    if rc != 0:
        raise Failed(f"the first run failed after the second was refused (exit {rc})")
    for p in case.outputs():
        if case.training:
            check_training_dir(p)
            d = max_abs_diff(p / "model.safetensors", case.w / "ref/model/model.safetensors")
            if d > 1e-5:
                raise Failed(f"the first run's weights moved by {d:g}")
        else:
            diff = same(p, ref_of(case, p))
            if diff:
                raise Failed(f"{p}: {diff}")
    return {"second_refused": second.stderr.strip().splitlines()[-1]}


# ---------------------------------------------------------------------------------------------
# Full disks: a small tmpfs as the output directory.


def mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip() or "mount failed"
    return None


def umount(path):
    subprocess.run(["umount", str(path)], capture_output=True)


def disk_full(case, size, log, then_resume=False):
    mnt = case.w / "full"
    umount(mnt)
    why = mount_tmpfs(mnt, size)
    if why:
        return {"skipped": f"cannot mount a tmpfs ({why}): run as root"}
    try:
        before = digest(case.inputs())
        cmd = [str(a) for a in case.command()]
        final = case.outputs()[0]
        final_name = final.name
        cmd = [str(mnt / final_name) if a == str(final) else a for a in cmd]
        if isinstance(case, Scan):
            cmd = [str(mnt / "scan") if a == str(case.w / case.PREFIX) else a for a in cmd]
        r = subprocess.run(cmd, capture_output=True, text=True)
        err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        if r.returncode == 0:
            raise Failed(f"succeeded on a {size} disk")
        if "No space left" not in r.stderr or str(mnt) not in r.stderr:
            raise Failed(f"unclear error: {err}")
        if "panicked" in r.stderr:
            raise Failed(f"panicked: {err}")
        if digest(case.inputs()) != before:
            raise Failed("an input changed")
        present = sorted(p.name for p in mnt.iterdir())
        result = {"size": size, "error": err[:300]}
        if not case.training:
            if present:
                raise Failed(f"left on the full disk: {present}")
        else:
            model = mnt / final_name
            check_training_dir(model)
            left = leftovers(mnt) + leftovers(model)
            if left:
                raise Failed(f"left on the full disk: {left}")
            if not (model / "train_state").is_dir():
                raise Failed("no whole checkpoint survived the full disk")
            result["checkpoint_step"] = json.loads((model / "train_state/position.json").read_text())["step"]
            if then_resume:
                subprocess.run(["mount", "-o", "remount,size=256m", str(mnt)], check=True)
                r = subprocess.run([str(G), *case.SUB, "--resume", str(model), "--quiet"], capture_output=True, text=True)
                if r.returncode != 0:
                    raise Failed(f"resume after freeing space failed: {r.stderr.strip()}")
                d = max_abs_diff(model / "model.safetensors", case.w / "ref/model/model.safetensors")
                if d > 1e-5:
                    raise Failed(f"resumed after the full disk, the weights end {d:g} away")
                result["resumed_max_abs_weight_diff"] = d
        return result
    finally:
        umount(mnt)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--only", nargs="*", choices=list(CASES), default=list(CASES))
    ap.add_argument("--work", type=Path, default=ROOT / "out/faults")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"faults: needs {DATA} (the project's shared data)")
    w = args.work.resolve()
    w.mkdir(parents=True, exist_ok=True)
    log = w / "faults.log"
    log.write_text("")
    rng = random.Random(args.seed)
    fx = fixtures(w, log)
    results, failed = {}, 0

    def record(name, fn):
        nonlocal failed
        t = time.monotonic()
        try:
            r = fn()
            status = "skipped" if "skipped" in r else "ok"
        except Failed as e:
            r, status = {"error": str(e)}, "FAILED"
            failed += 1
        r["status"] = status
        r["wall_seconds"] = round(time.monotonic() - t, 1)
        results[name] = r
        print(f"{status:7} {name}: " + ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("status",)), flush=True)

    cases = {name: CASES[name](name, w, fx) for name in args.only}
    for name, case in cases.items():
        record(f"kill-9 {name}", lambda: kill_case(case, args.kills, rng, log))
    for name in ("corpus-build", "pretrain", "predict"):
        if name in cases:
            record(f"concurrent {name}", lambda: concurrent(cases[name], log))
    full = [("corpus-build", "16m", False), ("predict", "64k", False), ("scan", "64k", False),
            ("variants-score", "16k", False), ("pretrain", "2000k", True)]
    for name, size, resume in full:
        if name in cases:
            record(f"disk-full {name}", lambda: disk_full(cases[name], size, log, resume))
    (w / "faults.json").write_text(json.dumps(results, indent=1))
    print(f"\n{len(results) - failed} of {len(results)} fault cases passed; details: {w / 'faults.json'}, log: {log}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
