"""Time dyngeo.ode.odeint against torchdiffeq on the same problems, in one run.

1. A batch of 1024 states, an MLP vector field of width 64, 100 RK4 steps, and dopri5 at rtol 1e-6:
   the median of several repeats and the ratio dyngeo / torchdiffeq (below 1: dyngeo is faster).
2. Van der Pol (mu = 5) from (2, 0) on 2001 output times in [0, 20], dopri5 at rtol 1e-6, atol 1e-8:
   evaluations of f and the largest error against a solve at rtol = atol = 1e-12. dopri5 reads the
   output times from its dense output, so they cost no extra steps.
3. Fixed-step overhead: RK4 over 100 steps of the width-64 MLP at batch 256 (400 evaluations of f),
   divided by the time of 400 evaluations made on their own. Two baselines: "discarded" evaluates f
   400 times on the same input and drops each result (so autograd frees each graph at once);
   "chained" composes y = f(y) 400 times, which keeps 400 evaluations' activations alive for backward,
   as any solve with autograd intact must. The last column repeats the solve under torch.no_grad().
   Under cProfile the solver's own operations (the fused stage updates and the final combination)
   take about 5 % of a solve; the rest of the gap to "discarded" is the cost of keeping the graph.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/odeint.py   (the machine's load skews the times)
"""

import os
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


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                               torch.nn.Tanh(), torch.nn.Linear(64, 2))


def timing_table():
    net = mlp()
    f = lambda t, y: net(y)  # noqa: E731
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
    print(f"{'case':<38} {'dyngeo (ms)':>12} {'torchdiffeq (ms)':>17} {'ratio':>7}")
    for name, (ours, theirs) in cases.items():
        a, b = median_time(ours), median_time(theirs)
        print(f"{name:<38} {1e3 * a:>12.1f} {1e3 * b:>17.1f} {a / b:>7.2f}")


def van_der_pol(mu=5.0, n_times=2001, rtol=1e-6, atol=1e-8):
    calls = 0

    def f(t, y):
        nonlocal calls
        calls += 1
        x, v = y[..., 0], y[..., 1]
        return torch.stack([v, mu * (1 - x**2) * v - x], dim=-1)

    y0 = torch.tensor([2.0, 0.0], dtype=torch.float64)
    t = torch.linspace(0, 20, n_times, dtype=torch.float64)
    reference = torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=1e-12, atol=1e-12)
    print(f"\nVan der Pol, mu = {mu:g}, {n_times} output times in [0, 20], dopri5 rtol {rtol:g} atol {atol:g}")
    print(f"{'solver':<14} {'evaluations':>12} {'max error':>10} {'time (ms)':>10}")
    for name, solve in (("dyngeo", lambda: odeint(f, y0, t, "dopri5", rtol=rtol, atol=atol)),
                        ("torchdiffeq", lambda: torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=rtol, atol=atol))):
        calls = 0
        ys = solve()
        evaluations = calls
        seconds = median_time(solve, repeats=3)
        print(f"{name:<14} {evaluations:>12} {(ys - reference).abs().max().item():>10.1e} {1e3 * seconds:>10.1f}")


def fixed_step_overhead(batch=256, steps=100):
    net = mlp()
    f = lambda t, y: net(y)  # noqa: E731
    y0, t, s = torch.randn(batch, 2), torch.tensor([0.0, 1.0]), torch.tensor(0.5)
    y_grad = y0.clone().requires_grad_(True)
    n = 4 * steps

    def discarded():
        for _ in range(n):
            f(s, y0)

    def chained():
        y = y_grad
        for _ in range(n):
            y = f(s, y)

    def no_grad(fn):
        def run():
            with torch.no_grad():
                fn()
        return run

    print(f"\nRK4 overhead: {steps} steps ({n} evaluations) of the width-64 MLP at batch {batch}")
    print(f"{'solver':<14} {'solve (ms)':>10} {'/ discarded':>12} {'/ chained':>10} {'no_grad: / discarded':>21}")
    bare, chain, bare_ng = median_time(discarded, 9), median_time(chained, 9), median_time(no_grad(discarded), 9)
    for name, solve in (("dyngeo", lambda: odeint(f, y0, t, "rk4", step_size=1 / steps)),
                        ("torchdiffeq", lambda: torchdiffeq.odeint(f, y0, t, method="rk4",
                                                                   options={"step_size": 1 / steps}))):
        a, a_ng = median_time(solve, 9), median_time(no_grad(solve), 9)
        print(f"{name:<14} {1e3 * a:>10.1f} {a / bare:>12.2f} {a / chain:>10.2f} {a_ng / bare_ng:>21.2f}")
    print(f"(400 evaluations: discarded {1e3 * bare:.1f} ms, chained {1e3 * chain:.1f} ms, "
          f"discarded under no_grad {1e3 * bare_ng:.1f} ms)")


def main():
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, "
          f"{os.cpu_count()} cores, 1-minute load average {load:.1f}")
    timing_table()
    van_der_pol()
    fixed_step_overhead()


if __name__ == "__main__":
    main()
