"""Time Algorithm 1 (region enumeration) on the 2-10-10-1 network of chapter 06 in [-1, 1]^2.

Trains the network as the chapter does (x1^2 + x2^2 - 0.4, 10,000 points, 1,000 Adam steps), then
enumerates its cells three times and prints the count and the best and median times. Budget: 5 s.
Then times the same search on a degenerate network (small integer weights: shared walls, pass-through
and dead neurons), where crossing a facet can flip several bits.
Run: .venv/bin/python benchmarks/relu_regions.py
"""

import statistics
import time

import numpy as np
import torch

from dyngeo.geometry import relu
from dyngeo.train import fit


def main(repeats=3):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X = torch.rand(10_000, 2) * 2 - 1
    y = (X**2).sum(1, keepdim=True) - 0.4
    net = relu.mlp([2, 10, 10, 1], seed=0)
    fit(net, lambda m: ((m(X) - y) ** 2).mean(), steps=1000, lr=1e-2, desc="training")
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        regions = relu.enumerate_regions(net, -1, 1)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(f"relu_regions: 2-10-10-1 in [-1,1]^2: {len(regions)} cells; enumeration wall best {min(times):.2f} s, "
          f"median {statistics.median(times):.2f} s, CPU median {statistics.median(cpu):.2f} s over {repeats} runs "
          "(budget 5 s)")
    rng = np.random.default_rng(0)
    sizes = [2, 8, 8, 8, 1]
    degenerate = [(rng.integers(-1, 2, (b, a)).astype(float), rng.integers(-1, 2, b) / 2.0) for a, b in zip(sizes[:-1], sizes[1:])]
    start = time.process_time()
    cells = relu.enumerate_regions(degenerate, -1, 1)
    multi = sum(np.count_nonzero(cells[i].pattern != cells[j].pattern) > 1 for i, j in relu.dual_edges(cells))
    print(f"relu_regions: integer-weight 2-8-8-8-1 in [-1,1]^2: {len(cells)} cells, {multi} dual edges flip several bits; "
          f"CPU {time.process_time() - start:.2f} s")


if __name__ == "__main__":
    main()
