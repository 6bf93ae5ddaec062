"""Command line: ``python -m dyngeo.reproduce [NAME ...] --data-root DIR --out DIR [--smoke] [--resume]``;
the same under ``torchrun --nproc_per_node=N -m dyngeo.reproduce ...`` trains with DDP."""

import argparse
import sys
from pathlib import Path

import torch

from . import EXPERIMENTS, MissingDataError, run, setup, teardown
from .runner import launch_command

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def listing():
    lines = ["experiments (python -m dyngeo.reproduce NAME --data-root DIR --out DIR):"]
    lines += [f"  {name:26s} {target}" for name, (target, _) in EXPERIMENTS.items()]
    lines.append("  all                        every experiment in turn (--out DIR/NAME each)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dyngeo.reproduce", description=__doc__, epilog=listing(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="experiment name(s), 'all', or nothing to list them")
    parser.add_argument("--data-root", type=Path, default=None, help="where the data sets are (default ~/.cache/dyngeo)")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint, curve.png and report.json (default ~/.cache/dyngeo/runs/NAME)")
    parser.add_argument("--smoke", action="store_true", help="generated stand-in data with the real shapes, small models, two steps")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--epochs", type=int, help="number of epochs (default: the paper's)")
    parser.add_argument("--batch", type=int, help="global batch, split over the processes (default: the paper's)")
    parser.add_argument("--lr", type=float, help="learning rate for the global batch (default: the paper's)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="default: float64 for SA-nODE, float32 otherwise")
    parser.add_argument("--model", choices=["NODE", "ANODE", "N-CODE"], help="ncode-* only (default N-CODE)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dump-grads", action="store_true", help="(tests) save the first step's gradients to OUT/grads.pt")
    args = parser.parse_args(argv)
    if not args.names or args.names == ["list"]:
        print(listing())
        return 0
    names = list(EXPERIMENTS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; choose from {list(EXPERIMENTS)} or 'all'")
    if args.model and any(not n.startswith("ncode") for n in names):
        parser.error(f"--model applies to the ncode-* experiments, not {[n for n in names if not n.startswith('ncode')]}")
    overrides = {k: v for k, v in dict(epochs=args.epochs, batch=args.batch, lr=args.lr, model=args.model,
                                       dtype=DTYPES.get(args.dtype)).items() if v is not None}
    ctx = setup(args.device)
    try:
        for name in names:
            out = args.out if args.out is not None and len(names) == 1 else (
                args.out / name if args.out is not None else None)
            dump = (out or Path(".")) / "grads.pt" if args.dump_grads else None
            run(name, data_root=args.data_root, out=out, smoke=args.smoke, resume=args.resume, seed=args.seed,
                dump_grads=dump, ctx=ctx, command=launch_command(), **overrides)
    except MissingDataError as error:
        if ctx.main:
            print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        teardown(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
