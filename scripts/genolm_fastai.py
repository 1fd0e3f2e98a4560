"""genolm models in fastai: load a genolm language model or ULMFiT classifier directory into fastai's
AWD_LSTM / get_language_model / get_text_classifier, with the same weights.

Tensor names (genolm's model.safetensors -> fastai's state_dict; classifier keys start with "0.module."
for the encoder and "1." for the head, a language model's with "0." and "1."):

    encoder.embedding.weight            -> encoder.weight and encoder_dp.emb.weight (one tensor, tied)
    encoder.lstm.{l}.weight_ih          -> rnns.{l}.module.weight_ih_l0
    encoder.lstm.{l}.weight_hh          -> rnns.{l}.weight_hh_l0_raw   (WeightDropout keeps the raw copy)
    encoder.lstm.{l}.bias_ih / bias_hh  -> rnns.{l}.module.bias_ih_l0 / bias_hh_l0
    decoder.bias (LM)                   -> 1.decoder.bias (1.decoder.weight is the embedding, tied)
    head.0 BatchNorm1d(3 * emb)         -> 1.layers.0.0  (weight, bias, running_mean, running_var)
    head.2 Linear(3 * emb, lin)         -> 1.layers.0.2
    head.4 BatchNorm1d(lin)             -> 1.layers.1.0
    head.6 Linear(lin, n_classes)       -> 1.layers.1.2
    fastai's head Linears have no bias (LinBnDrop drops it after a BatchNorm); genolm's have one, so
    the loader gives those two layers a bias before loading.

Settings that must match (read from the directory's config): emb_sz, n_hid, n_layers, pad_token = 0
(genolm's <pad> id; fastai's default is 1), seq_len = head.bptt, max_len = head.max_len, lin_ftrs =
[head.lin_size]. Inputs are genolm's token ids: k-mers of the sequence from base f (f = 0 .. stride-1),
looked up in the directory's tokenizer.json; a backward model (model.backwards) reads them last to
first. genolm's prediction averages the class probabilities over the k-mer frames the classifier was
trained on (all `stride` frames unless train.all_frames = false); `predict` below does the same.

Usage as a library (fastai 2.8 and `tokenizers` importable, e.g. scripts/bench-venv.sh's venv):
    from genolm_fastai import load_classifier
    clf = load_classifier("out/clf-ecoli-cds-promoters")
    probs = clf.predict(["ACGT...", ...])        # [n, n_classes], as `genolm predict`
    model = clf.model                             # fastai SequentialRNN, eval mode
Usage as a command: python scripts/genolm_fastai.py DIR --fasta seqs.fa  -> TSV of probabilities.
"""
import argparse
import json
import struct
import sys
from pathlib import Path

import torch
from fastai.text.models.awdlstm import AWD_LSTM, awd_lstm_clas_config, awd_lstm_lm_config
from fastai.text.models.core import get_language_model, get_text_classifier
from tokenizers import Tokenizer

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16,
           "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    """The tensors of a .safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = bytearray(data[8 + n + a:8 + n + b])
        t = torch.frombuffer(raw, dtype=_DTYPES[info["dtype"]]) if raw else torch.empty(0)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def _encoder_state(t, n_layers, prefix):
    emb = t["encoder.embedding.weight"]
    sd = {f"{prefix}encoder.weight": emb, f"{prefix}encoder_dp.emb.weight": emb}
    for l in range(n_layers):
        sd[f"{prefix}rnns.{l}.module.weight_ih_l0"] = t[f"encoder.lstm.{l}.weight_ih"]
        sd[f"{prefix}rnns.{l}.weight_hh_l0_raw"] = t[f"encoder.lstm.{l}.weight_hh"]
        sd[f"{prefix}rnns.{l}.module.bias_ih_l0"] = t[f"encoder.lstm.{l}.bias_ih"]
        sd[f"{prefix}rnns.{l}.module.bias_hh_l0"] = t[f"encoder.lstm.{l}.bias_hh"]
    return sd


def _head_state(t):
    sd = {}
    for ours, theirs in (("head.0", "1.layers.0.0"), ("head.2", "1.layers.0.2"),
                         ("head.4", "1.layers.1.0"), ("head.6", "1.layers.1.2")):
        for p in ("weight", "bias", "running_mean", "running_var"):
            if f"{ours}.{p}" in t:
                sd[f"{theirs}.{p}"] = t[f"{ours}.{p}"]
    return sd


def _load(model, sd):
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # Only buffers fastai keeps for itself may be left (BatchNorm's batch counters).
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"weights do not map: missing {missing}, unexpected {unexpected}")
    return model.eval()


class GenolmClassifier:
    def __init__(self, directory):
        d = Path(directory)
        cfg = json.loads((d / "config.json").read_text())
        enc, head = cfg["encoder"], cfg["head"]
        self.classes = cfg["classes"]
        self.backwards = bool(enc.get("backwards", False))
        tok_cfg = json.loads((d / "tokenizer_config.json").read_text())
        self.k, self.stride = int(tok_cfg["genolm"]["k"]), int(tok_cfg["genolm"]["stride"])
        all_frames = cfg["config"].get("train", {}).get("all_frames", True)
        self.frames = self.stride if all_frames else 1
        self.tokenizer = Tokenizer.from_file(str(d / "tokenizer.json"))
        arch = dict(awd_lstm_clas_config)
        arch.update(emb_sz=enc["emb_size"], n_hid=enc["hidden_size"], n_layers=enc["n_layers"], pad_token=0)
        self.model = get_text_classifier(AWD_LSTM, self.tokenizer.get_vocab_size(), len(self.classes),
                                         seq_len=head["bptt"], config=arch, lin_ftrs=[head["lin_size"]],
                                         pad_idx=0, max_len=head["max_len"])
        for block in self.model[1].layers:
            lin = block[2]
            block[2] = torch.nn.Linear(lin.in_features, lin.out_features, bias=True)
        t = read_safetensors(d / "model.safetensors")
        sd = _encoder_state(t, enc["n_layers"], "0.module.")
        sd.update(_head_state(t))
        _load(self.model, sd)

    def ids(self, seq, frame=0):
        """genolm's token ids of `seq` read from base `frame`, in the model's direction."""
        seq = seq.upper().replace("U", "T")
        kmers = [seq[i:i + self.k] for i in range(frame, len(seq) - self.k + 1, self.stride)]
        ids = self.tokenizer.encode(" ".join(kmers)).ids if kmers else [1]
        return ids[::-1] if self.backwards else ids

    @torch.no_grad()
    def predict(self, seqs, batch_size=64):
        """Class probabilities as `genolm predict` gives them (frame-averaged; sequences of equal
        length per batch need no padding, so this groups them by length)."""
        out = torch.zeros(len(seqs), len(self.classes), dtype=torch.float64)
        for f in range(self.frames):
            rows = [(i, self.ids(s, min(f, len(s)))) for i, s in enumerate(seqs)]
            by_len = {}
            for i, ids in rows:
                by_len.setdefault(len(ids), []).append((i, ids))
            for group in by_len.values():
                for b in range(0, len(group), batch_size):
                    part = group[b:b + batch_size]
                    x = torch.tensor([ids for _, ids in part])
                    p = self.model(x)[0].float().softmax(-1).double()
                    for (i, _), row in zip(part, p):
                        out[i] += row / self.frames
        return out


def load_classifier(directory):
    return GenolmClassifier(directory)


def load_language_model(directory):
    """A genolm LM directory (config.json) as fastai's get_language_model(AWD_LSTM, ...)."""
    d = Path(directory)
    if (d / "config.json").exists():
        cfg = json.loads((d / "config.json").read_text())
    else:  # language models made before config.json
        import tomllib
        cfg = tomllib.loads((d / "config.toml").read_text())
    m = cfg["pretrain"]["model"]
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    arch = dict(awd_lstm_lm_config)
    arch.update(emb_sz=m["emb_size"], n_hid=m["hidden_size"], n_layers=m["n_layers"], pad_token=0)
    model = get_language_model(AWD_LSTM, tok.get_vocab_size(), config=arch)
    t = read_safetensors(d / "model.safetensors")
    sd = _encoder_state(t, m["n_layers"], "0.")
    sd["1.decoder.weight"] = t["encoder.embedding.weight"]
    sd["1.decoder.bias"] = t["decoder.bias"]
    return _load(model, sd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--fasta", required=True)
    args = ap.parse_args()
    ids, seqs = [], []
    for line in Path(args.fasta).read_text().splitlines():
        if line.startswith(">"):
            ids.append(line[1:].split()[0])
            seqs.append("")
        elif line.strip():
            seqs[-1] += line.strip()
    clf = load_classifier(args.model)
    probs = clf.predict(seqs)
    print("id\t" + "\t".join(f"p_{c}" for c in clf.classes))
    for i, p in zip(ids, probs):
        print(i + "\t" + "\t".join(f"{v:.7f}" for v in p.tolist()))


if __name__ == "__main__":
    sys.exit(main())
