"""How fast a paper-shape AWD-LSTM training step could be on this CPU at best.

Counts the matrix-multiply FLOPs of one step (LSTM forward, its backward = twice that, the tied
decoder) and divides by libtorch's measured bf16 GEMM rate at the LSTM's own shapes: no LSTM
implementation can beat that time, whatever it does around the GEMMs.
Usage: .venv/bin/python scripts/lstm_flop_bound.py [--fastai-fp32 TOKENS_PER_S]
"""
import argparse
import time
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402

B, T, VOCAB = 64, 70, 1026
EMB, HID, LAYERS = 400, 1150, 3


def gemm_rate(m, k, n, dtype, seconds=2.0):
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e9


def step_flops():
    fwd = 0
    for layer in range(LAYERS):
        inp = EMB if layer == 0 else HID
        hid = EMB if layer == LAYERS - 1 else HID
        fwd += 2 * B * T * 4 * hid * (inp + hid)
    decoder = 2 * B * T * EMB * VOCAB
    return fwd, 2 * fwd, 3 * decoder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fastai-fp32", type=float, default=None,
                    help="fastai's fp32 tokens/s at this shape (from bench-pretrain), for the 2x budget")
    a = ap.parse_args()
    torch.set_num_threads(2)
    shapes = {
        "whole-sequence input GEMM (B*T x I+H x 4H)": (B * T, EMB + HID, 4 * HID),
        "per-timestep recurrent GEMM (B x H x 4H)": (B, HID, 4 * HID),
        "weight gradient (4H x B*T x H)": (4 * HID, B * T, HID),
    }
    rates = []
    for name, (m, k, n) in shapes.items():
        bf16, fp32 = gemm_rate(m, k, n, torch.bfloat16), gemm_rate(m, k, n, torch.float32)
        rates.append(bf16)
        print(f"{name:45s} {m}x{k}x{n}: bf16 {bf16:5.0f} GFLOP/s, fp32 {fp32:5.0f} GFLOP/s")
    fwd, bwd, dec = step_flops()
    total = fwd + bwd + dec
    best = max(rates)
    print(f"paper-shape step: LSTM forward {fwd / 1e9:.0f} + backward {bwd / 1e9:.0f} + decoder "
          f"{dec / 1e9:.0f} = {total / 1e9:.0f} GFLOP")
    floor = total / (best * 1e9)
    print(f"at the best bf16 GEMM rate ({best:.0f} GFLOP/s) that is {floor * 1000:.0f} ms per step, "
          f"at most {B * T / floor:,.0f} tokens/s")
    if a.fastai_fp32:
        budget = B * T / (2 * a.fastai_fp32)
        print(f"2x fastai fp32 ({a.fastai_fp32:,.0f} tokens/s) needs {budget * 1000:.0f} ms per step: "
              f"{(budget - floor) * 1000:.0f} ms left for everything that is not a GEMM at full rate")


if __name__ == "__main__":
    main()
