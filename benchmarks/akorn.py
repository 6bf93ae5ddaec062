"""Time one Kuramoto step of the attentive AKOrN layer (batch 64, 16x16 tokens, 64 channels, N = 4),
forward only and forward + backward, on dyngeo.device(); print the result.

Run: .venv/bin/python benchmarks/akorn.py
"""

import time

import torch

import dyngeo
from dyngeo.models import akorn as ak

B, SIDE, CHANNELS, N, HEADS, REPEATS = 64, 16, 64, 4, 8, 3


def timed(fn, repeats=REPEATS):
    fn()  # warm-up
    if dyngeo.device().type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if dyngeo.device().type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main():
    device = dyngeo.device()
    torch.manual_seed(0)
    J = ak.AttnJ(CHANNELS, heads=HEADS, tokens=SIDE * SIDE).to(device)
    omega = ak.SkewOmega(N).to(device)
    x = ak.random_oscillators((B, CHANNELS, SIDE, SIDE), N, device=device)
    c = torch.randn(B, CHANNELS, SIDE, SIDE, device=device)

    def forward():
        with torch.no_grad():
            ak.kuramoto_step(x, c, J, omega, 1.0, N)

    def forward_backward():
        ak.kuramoto_step(x, c, J, omega, 1.0, N).square().sum().backward()

    print(f"device {device}, threads {torch.get_num_threads()}: one attentive Kuramoto step, "
          f"batch {B}, {SIDE}x{SIDE} tokens, {CHANNELS} channels, N = {N}, {HEADS} heads")
    print(f"  forward:            {1e3 * timed(forward):8.1f} ms")
    print(f"  forward + backward: {1e3 * timed(forward_backward):8.1f} ms")


if __name__ == "__main__":
    main()
