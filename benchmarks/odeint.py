"""Time dyngeo.ode.odeint against torchdiffeq on the same problem, in one run.

A batch of 1024 states, an MLP vector field of width 64, 100 RK4 steps, and dopri5 at rtol 1e-6.
Prints the median of several repeats and the ratio dyngeo / torchdiffeq (below 1: dyngeo is faster).
Run: .venv/bin/python benchmarks/odeint.py
"""

import statistics
import time

import torch
import torchdiffeq

from dyngeo.ode import odeint


def median_time(fn, repeats=7):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                              torch.nn.Tanh(), torch.nn.Linear(64, 2))
    f = lambda t, y: net(y)
    y0, t = torch.randn(1024, 2), torch.tensor([0.0, 1.0])
    cases = {
        "rk4, 100 steps, forward": (
            lambda: odeint(f, y0, t, "rk4", step_size=0.01),
            lambda: torchdiffeq.odeint(f, y0, t, method="rk4", options={"step_size": 0.01})),
        "rk4, 100 steps, forward+backward": (
            lambda: odeint(f, y0, t, "rk4", step_size=0.01).sum().backward(),
            lambda: torchdiffeq.odeint(f, y0, t, method="rk4", options={"step_size": 0.01}).sum().backward()),
        "rk4, 100 steps, all states recorded": (
            lambda: odeint(f, y0, torch.linspace(0, 1, 101), "rk4"),
            lambda: torchdiffeq.odeint(f, y0, torch.linspace(0, 1, 101), method="rk4")),
        "dopri5, rtol 1e-6": (
            lambda: odeint(f, y0, t, "dopri5", rtol=1e-6, atol=1e-8),
            lambda: torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=1e-6, atol=1e-8)),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    print(f"{'case':<38} {'dyngeo (ms)':>12} {'torchdiffeq (ms)':>17} {'ratio':>7}")
    for name, (ours, theirs) in cases.items():
        a, b = median_time(ours), median_time(theirs)
        print(f"{name:<38} {1e3 * a:>12.1f} {1e3 * b:>17.1f} {a / b:>7.2f}")


if __name__ == "__main__":
    main()
