"""The one training loop of ``dyngeo.reproduce``: one process or many (``torchrun``), DDP, checkpoints, report.

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process joins a process group (NCCL on GPUs, gloo on the
CPU), wraps the model in :class:`~torch.nn.parallel.DistributedDataParallel` and reads its share of each
epoch through a :class:`~torch.utils.data.distributed.DistributedSampler`. The *global* batch and the
learning rate are the paper's whatever the number of processes: each of ``N`` processes takes
``batch / N`` examples per step and DDP averages the gradients, so one step sees the same examples and
takes the same gradient as a single process with the whole batch (the tests check this in float64).
Without ``torchrun`` the same code runs as one process (``N = 1``).

Rank 0 alone prints, writes the checkpoint (after every epoch, with every rank's RNG state),
the training curve (``curve.png``) and the JSON report (``report.json``). ``resume=True`` continues
from ``checkpoint.pt`` on the same trajectory.
"""

import datetime
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from dyngeo.train import progress

from . import data as datasets


@dataclass
class Experiment:
    """One paper experiment: the data, the model, the loss, the metric and the paper's protocol.

    ``loss(model, x, y)`` is the training objective of one batch; ``evaluate(model, X_test, y_test,
    X_train, y_train)`` returns a dict whose ``"value"`` is the metric (in %) compared with
    ``paper_value``. ``batch`` is the global batch (split over the processes) and ``lr`` the learning
    rate for that batch. ``prepare`` maps the loaded data to model inputs (e.g. flattening);
    ``augment(x)`` transforms a training batch; ``plateau`` halves the learning rate when the epoch's
    training loss has not improved for ``plateau`` epochs.
    """

    name: str
    target: str
    metric: str
    paper_value: float
    dataset: str
    build: Callable[[], nn.Module]
    loss: Callable
    evaluate: Callable
    epochs: int
    batch: int
    lr: float
    dtype: torch.dtype = torch.float32
    clip: float = None
    plateau: int = None
    prepare: Callable = None
    augment: Callable = None
    eval_each_epoch: bool = False
    deterministic: bool = True
    protocol: str = ""
    paper_extra: dict = field(default_factory=dict)


@dataclass
class Context:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    owns_group: bool

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def mean(self, value):
        """The mean of a float over the processes."""
        if self.world == 1:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.item() / self.world


def setup(device=None):
    """Join the process group when launched by ``torchrun``; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but torch.cuda.is_available() is False")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device(kind)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=2))
        owns = True
    return Context(rank, world, local, dev, owns)


def teardown(ctx):
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def launch_command():
    """The command that started this run: the ``torchrun`` line when there is one (read from the
    parent process on Linux), else ``python -m dyngeo.reproduce ...``."""
    own = " ".join(shlex.quote(a) for a in ["python", "-m", "dyngeo.reproduce", *sys.argv[1:]])
    if "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        try:
            raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
            parts = [p.decode() for p in raw if p]
            if any("torchrun" in p or "torch.distributed.run" in p for p in parts):
                start = next(i for i, p in enumerate(parts) if "torchrun" in p or "torch.distributed" in p)
                return " ".join(shlex.quote(p) for p in ["torchrun", *parts[start + 1:]])
        except (OSError, StopIteration):
            pass
        return f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', '?')} -m dyngeo.reproduce " + \
            " ".join(shlex.quote(a) for a in sys.argv[1:])
    return own


def _load_once(name, root, ctx):
    """Rank 0 reads the data first (downloading them when torchvision can); the other ranks read them after
    it, or all stop with rank 0's :class:`~dyngeo.reproduce.data.MissingDataError`."""
    error, loaded = None, None
    if ctx.main:
        try:
            loaded = datasets.load(name, root)
        except datasets.MissingDataError as missing:
            error = missing
    if ctx.world > 1:
        flag = torch.tensor([1.0 if error is not None else 0.0], device=ctx.device)
        dist.broadcast(flag, 0)
        if flag.item() and error is None:
            error = datasets.MissingDataError(f"{name} is missing under {root}: see the message of rank 0")
    if error is not None:
        raise error
    return loaded if ctx.main else datasets.load(name, root)


class _Objective(nn.Module):
    """The loss as a module, so that DDP sees every use of the parameters inside one forward."""

    def __init__(self, model, loss):
        super().__init__()
        self.model, self._loss = model, loss

    def forward(self, x, y):
        return self._loss(self.model, x, y)


def _rng_state(ctx):
    state = {"cpu": torch.get_rng_state()}
    if ctx.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(ctx.device)
    return state


def _set_rng_state(ctx, state):
    torch.set_rng_state(state["cpu"])
    if ctx.device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], ctx.device)


def _gather_rng(ctx):
    states = [None] * ctx.world
    mine = _rng_state(ctx)
    if ctx.world == 1:
        return [mine]
    dist.all_gather_object(states, {k: v.cpu() for k, v in mine.items()})
    return states


def _save(obj, path):
    tmp = Path(str(path) + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _figure(path, losses, steps_per_epoch, history, exp):
    # A bare Figure (no pyplot): saving it leaves the caller's backend alone, so a notebook that runs an
    # experiment keeps showing its own figures.
    from matplotlib.figure import Figure

    with_metric = [h for h in history if h.get("value") is not None]
    fig = Figure(figsize=(11 if with_metric else 6, 3.6))
    axes = fig.subplots(1, 2 if with_metric else 1, squeeze=False)
    ax = axes[0, 0]
    ax.plot(range(1, len(losses) + 1), losses, lw=0.6, label="training loss (mean over processes)")
    if steps_per_epoch and len(losses) >= steps_per_epoch:
        epochs = len(losses) // steps_per_epoch
        means = torch.tensor(losses[:epochs * steps_per_epoch]).view(epochs, -1).mean(1)
        ax.plot(steps_per_epoch * torch.arange(1, epochs + 1), means, "o-", ms=3, label="epoch mean")
    if len(losses) and min(losses) > 0:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss", title=exp.name)
    ax.legend(fontsize=8)
    if with_metric:
        ax = axes[0, 1]
        ax.plot([h["epoch"] for h in with_metric], [h["value"] for h in with_metric], "o-", label="this run")
        ax.axhline(exp.paper_value, color="k", ls="--", lw=0.8, label=f"paper: {exp.paper_value}")
        ax.set(xlabel="epoch", ylabel=exp.metric, title=exp.target)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


@dataclass
class Result:
    """What :func:`train_and_report` hands back: the report (also in ``report.json``), the trained
    model (unwrapped, on the run's device), the per-epoch history and the per-step losses."""

    report: dict
    model: nn.Module
    history: list
    losses: list


def train_and_report(exp, data_root, out, smoke=False, resume=False, seed=0, device=None, dump_grads=None,
                     command=None, ctx=None):
    """Train ``exp`` (an :class:`Experiment`) and evaluate it; see the module docstring."""
    own_ctx = ctx is None
    ctx = ctx or setup(device)
    try:
        return _run(exp, data_root, Path(out), smoke, resume, seed, dump_grads, command, ctx)
    finally:
        if own_ctx:
            teardown(ctx)


def _run(exp, data_root, out, smoke, resume, seed, dump_grads, command, ctx):
    start = time.time()
    say = print if ctx.main else (lambda *a, **k: None)
    if exp.batch % ctx.world:
        raise ValueError(f"{exp.name}: the global batch {exp.batch} does not split evenly over {ctx.world} processes")
    per_device = exp.batch // ctx.world
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)

    # ---- data (every rank holds the whole set; the sampler picks its share)
    if smoke:
        Xtr, ytr, Xte, yte = datasets.standin(exp.dataset, seed=seed)
    else:
        Xtr, ytr, Xte, yte = _load_once(exp.dataset, data_root, ctx)
    if exp.prepare is not None:
        Xtr, Xte = exp.prepare(Xtr), exp.prepare(Xte)
    cast = (lambda t: t.to(ctx.device, exp.dtype)) if Xtr.is_floating_point() else (lambda t: t.to(ctx.device))
    Xtr, Xte, ytr, yte = cast(Xtr), cast(Xte), ytr.to(ctx.device), yte.to(ctx.device)

    # ---- model: the same initialisation on every rank (DDP also broadcasts rank 0's)
    torch.manual_seed(seed)
    model = exp.build().to(ctx.device, exp.dtype)
    if ctx.world > 1 and ctx.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # batch statistics of the global batch
    objective = _Objective(model, exp.loss)
    step_module = DistributedDataParallel(objective, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                                          find_unused_parameters=False) if ctx.world > 1 else objective
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=exp.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=exp.plateau) if exp.plateau else None
    sampler = DistributedSampler(range(len(ytr)), num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=seed)
    steps_per_epoch = len(sampler) // per_device
    if steps_per_epoch == 0:
        raise ValueError(f"{exp.name}: {len(ytr)} training examples make no batch of {exp.batch}")

    # ---- resume
    ckpt_path = out / "checkpoint.pt"
    first_epoch, history, losses = 0, [], []
    torch.manual_seed(seed + 1 + ctx.rank)  # per-rank stream: stochastic forward passes, augmentation
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=ctx.device, weights_only=False)
        if ckpt["experiment"] != exp.name:
            raise ValueError(f"{ckpt_path} belongs to {ckpt['experiment']!r}, not {exp.name!r}")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None and ckpt.get("scheduler"):
            sched.load_state_dict(ckpt["scheduler"])
        first_epoch, history, losses = ckpt["epoch"], ckpt["history"], ckpt["losses"]
        if len(ckpt["rng"]) == ctx.world:
            _set_rng_state(ctx, ckpt["rng"][ctx.rank])
        else:
            torch.manual_seed(seed + 1 + ctx.rank + 1000 * first_epoch)
            say(f"resuming on {ctx.world} processes a run saved by {len(ckpt['rng'])}: the random streams restart")
        say(f"resumed {exp.name} from {ckpt_path} after epoch {first_epoch}")
    elif resume:
        say(f"--resume: no checkpoint at {ckpt_path}; starting from scratch")

    say(f"{exp.name} ({exp.target}): {ctx.world} process(es) on {ctx.device.type}; global batch {exp.batch} = "
        f"{ctx.world} x {per_device} per process; lr {exp.lr:g} for the global batch (the same per process: DDP "
        f"averages gradients); {exp.epochs} epochs of {steps_per_epoch} steps; {exp.dtype}")

    def evaluate():
        model.eval()
        with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
            torch.manual_seed(seed + 12345)
            result = exp.evaluate(model, Xte, yte, Xtr, ytr)
        model.train()
        return result

    model.train()
    for epoch in range(first_epoch, exp.epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=ctx.device)
        batches = order[: steps_per_epoch * per_device].view(steps_per_epoch, per_device)
        bar = progress(batches, desc=f"{exp.name} epoch {epoch + 1}/{exp.epochs}", disable=not ctx.main)
        epoch_losses = []
        for idx in bar:
            x, y = Xtr[idx], ytr[idx]
            if exp.augment is not None:
                x = exp.augment(x)
            opt.zero_grad(set_to_none=True)
            loss = step_module(x, y)
            loss.backward()
            if dump_grads is not None and not losses and not epoch_losses:
                if ctx.main:
                    _save({n: p.grad.detach().cpu().clone() for n, p in model.named_parameters() if p.grad is not None},
                          dump_grads)
            if exp.clip is not None:
                torch.nn.utils.clip_grad_norm_(params, exp.clip)
            opt.step()
            epoch_losses.append(ctx.mean(loss.detach()))
            bar.set_postfix(loss=f"{epoch_losses[-1]:.4f}")
        losses += epoch_losses
        mean_loss = sum(epoch_losses) / len(epoch_losses)
        if sched is not None:
            sched.step(mean_loss)
        entry = {"epoch": epoch + 1, "loss": mean_loss, "lr": opt.param_groups[0]["lr"], "value": None}
        if exp.eval_each_epoch and epoch + 1 < exp.epochs:
            if ctx.main:
                entry["value"] = evaluate()["value"]
            ctx.barrier()
        history.append(entry)
        say(f"epoch {epoch + 1}: loss {mean_loss:.4f}" + (f", {exp.metric} {entry['value']:.2f}" if entry["value"] is not None else ""))
        rng = _gather_rng(ctx)
        if ctx.main:
            _save({"experiment": exp.name, "epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                   "scheduler": sched.state_dict() if sched is not None else None, "history": history,
                   "losses": losses, "rng": rng, "world_size": ctx.world, "seed": seed}, ckpt_path)
        ctx.barrier()

    # ---- final evaluation and report (rank 0)
    report = None
    if ctx.main:
        result = evaluate()
        if history:
            history[-1]["value"] = result["value"]
        value = float(result["value"])
        kind = torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else "cpu"
        report = {
            "experiment": exp.name, "target": exp.target, "metric": exp.metric,
            "value": value, "paper_value": exp.paper_value, "difference": value - exp.paper_value,
            "details": {k: v for k, v in result.items() if k != "value"}, "paper_details": exp.paper_extra,
            "smoke": smoke, "stand_in_data": smoke, "epochs": exp.epochs, "steps_per_epoch": steps_per_epoch,
            "batch": {"global": exp.batch, "per_device": per_device},
            "lr": {"global_batch": exp.lr, "per_device": exp.lr,
                   "note": "the global batch is the paper's; DDP averages gradients, so the rate is unchanged"},
            "dtype": str(exp.dtype).replace("torch.", ""), "seed": seed,
            "devices": {"count": ctx.world, "kind": kind, "backend": dist.get_backend() if ctx.world > 1 else None},
            "wall_time_s": time.time() - start, "final_loss": losses[-1] if losses else None,
            "protocol": exp.protocol, "command": command or launch_command(),
            "checkpoint": str(ckpt_path), "curve": str(out / "curve.png"),
        }
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        _figure(out / "curve.png", losses, steps_per_epoch, history, exp)
        print(json.dumps({k: report[k] for k in ("experiment", "metric", "value", "paper_value", "difference",
                                                 "wall_time_s")}))
    ctx.barrier()
    return Result(report, model, history, losses)
