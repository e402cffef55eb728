"""Training throughput of the proxy transformer: tokens/s, and MFU on a GPU.

Run: python benchmarks/throughput.py [--steps N]

Times the real training loop (`trials.train.train_trial`) between its first evaluation
and its end, so model build, corpus load and torch.compile warm-up are left out.
CPU: SP at several widths, and muP vs SP at one width (baseline: SP, same process) to
show the parametrization's multipliers cost nothing measurable.
CUDA (when available): a width-1024 model, eager bf16 (baseline) vs torch.compile, with
model FLOPs utilization = flops_per_token · tokens/s / peak bf16 FLOP/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed
from tunescale.trials.train import train_trial  # noqa: E402

# Dense bf16 peak FLOP/s by device name (NVIDIA datasheets; H100/H200 SXM without sparsity).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}


def throughput(config: dict) -> tuple[float, dict]:
    """Tokens/s of `config` between its first evaluation and its end; and its row."""
    marks: list[tuple[float, int]] = []
    outcome = train_trial(config, on_eval=lambda e: marks.append((time.perf_counter(), e["tokens"])))
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    return (n1 - n0) / (t1 - t0), outcome.row


def cpu(steps: int) -> None:
    print(f"CPU ({torch.get_num_threads()} threads; shared machine, timings are contended)")
    base = {"lr": 3e-3, "depth": 2, "seq_len": 64, "batch_size": 16, "steps": steps,
            "eval_every": steps // 4, "eval_batches": 1, "device": "cpu"}
    for width in (32, 128, 256):
        tps, row = throughput({**base, "width": width})
        print(f"  sp  width {width:>4}: N={row['params']:>9,}  {tps:>9,.0f} tokens/s  "
              f"{tps * row['flops'] / row['tokens'] / 1e9:6.2f} GFLOP/s")
    sp, _ = throughput({**base, "width": 256})
    mup, _ = throughput({**base, "width": 256, "base_width": 32, "parametrization": "mup"})
    print(f"  mup/sp throughput at width 256 (baseline sp): {mup / sp:.3f}")


def gpu(steps: int) -> None:
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    print(f"GPU: {name} (peak bf16 {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s)")
    base = {"lr": 1e-3, "width": 1024, "depth": 8, "head_dim": 64, "seq_len": 1024, "batch_size": 16,
            "steps": steps, "eval_every": steps // 4, "eval_batches": 1, "device": "cuda"}
    results = {}
    for label, extra in (("eager bf16", {}), ("compiled bf16", {"compile": True})):
        tps, row = throughput({**base, **extra})
        flops_per_s = tps * row["flops"] / row["tokens"]
        mfu = flops_per_s / peak if peak else float("nan")
        results[label] = tps
        print(f"  {label:<14} width 1024 depth 8: N={row['params']:,}  {tps:,.0f} tokens/s  "
              f"{flops_per_s / 1e12:.1f} TFLOP/s  MFU {mfu:.1%}")
    print(f"  compiled/eager (baseline eager): {results['compiled bf16'] / results['eager bf16']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1: stable on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu(args.steps)
    if torch.cuda.is_available():
        gpu(max(args.steps, 40))
    else:
        print("GPU: CUDA not available on this machine; GPU throughput and MFU not measured.")


if __name__ == "__main__":
    main()
