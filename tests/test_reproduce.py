"""``python -m dyngeo.reproduce``: every experiment end to end on stand-in data (one process and two
under torchrun with gloo), DDP gradients equal to one process's on the same global batch, resumption
on the same trajectory, the data readers on files written here, and a clear error for missing data."""

import gzip
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dyngeo import reproduce
from dyngeo.data.sudoku import consistent, is_valid
from dyngeo.reproduce import data as rdata
from dyngeo.reproduce.__main__ import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(reproduce.EXPERIMENTS)
DETERMINISTIC = [n for n in NAMES if reproduce.experiment(n, smoke=True).deterministic]


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _torchrun():
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def _smoke(tmp, launcher):
    args = ["all", "--smoke", "--dtype", "float64", "--dump-grads", "--data-root", str(tmp / "none"), "--out", str(tmp)]
    proc = subprocess.run([*launcher, "-m", "dyngeo.reproduce", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _check_reports(out, proc, count):
    for name in NAMES:
        report = json.loads((out / name / "report.json").read_text())
        assert report["experiment"] == name and report["smoke"] and report["stand_in_data"]
        assert np.isfinite(report["value"]) and np.isfinite(report["final_loss"])
        assert report["difference"] == pytest.approx(report["value"] - report["paper_value"])
        assert report["devices"] == {"count": count, "kind": "cpu", "backend": "gloo" if count > 1 else None}
        assert report["batch"]["global"] == count * report["batch"]["per_device"]
        assert report["steps_per_epoch"] == 2  # 16 stand-in examples, global batch 8: two steps
        assert ("torchrun" in report["command"]) == (count > 1) and name in proc.stdout
        assert (out / name / "checkpoint.pt").stat().st_size > 0
        assert (out / name / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # progress and logging come from rank 0 only: one header line per experiment
    assert proc.stdout.count("global batch 8 =") == len(NAMES)


def test_smoke_every_experiment_one_process_and_two_under_torchrun(tmp_path):
    """Every experiment with --smoke, once as one process and once as two under torchrun (gloo), in float64.
    (One test, so that pytest-xdist runs the two launches once.) Then:

    - each run wrote its report, checkpoint and curve, and only rank 0 logged;
    - for every deterministic experiment, the first step's DDP gradient (two processes, 4 + 4 examples)
      equals the single process's gradient on the same global batch of 8 (float64, 1e-6);
    - AKOrN draws its initial oscillators from per-rank seeds, so its DDP gradients equal the
      single-process ones only in distribution: every trainable parameter got a finite one.
    """
    single = _smoke(tmp_path / "single", [sys.executable])
    double = _smoke(tmp_path / "ddp", [*_torchrun(), "--standalone", "--nproc_per_node=2"])
    _check_reports(tmp_path / "single", single, 1)
    _check_reports(tmp_path / "ddp", double, 2)
    assert DETERMINISTIC and len(DETERMINISTIC) >= 5
    for name in DETERMINISTIC:
        one, two = (torch.load(tmp_path / mode / name / "grads.pt") for mode in ("single", "ddp"))
        assert one.keys() == two.keys() and len(one) > 0
        for key in one:
            assert one[key].dtype == torch.float64
            scale = one[key].abs().max().clamp_min(1.0).item()
            torch.testing.assert_close(two[key], one[key], rtol=1e-6, atol=1e-6 * scale, msg=f"{name}: {key}")
    for name in set(NAMES) - set(DETERMINISTIC):
        grads = torch.load(tmp_path / "ddp" / name / "grads.pt")
        model = reproduce.experiment(name, smoke=True).build()
        assert grads.keys() == {n for n, p in model.named_parameters() if p.requires_grad}
        assert all(torch.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize("name", ["sanode-mnist", "akorn-sudoku9"])
def test_resumed_run_continues_the_same_trajectory(tmp_path, name):
    torch.set_num_threads(1)
    full = reproduce.run(name, out=tmp_path / "full", smoke=True, epochs=2, dtype=torch.float64)
    reproduce.run(name, out=tmp_path / "part", smoke=True, epochs=1, dtype=torch.float64)
    resumed = reproduce.run(name, out=tmp_path / "part", smoke=True, epochs=2, dtype=torch.float64, resume=True)
    assert len(full.losses) == len(resumed.losses) == 4
    assert full.losses == resumed.losses
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and a different seed is a different trajectory (the comparison can fail)
    other = reproduce.run(name, out=tmp_path / "other", smoke=True, epochs=2, dtype=torch.float64, seed=1)
    assert other.losses != full.losses


def test_missing_data_names_the_file_and_the_fetch_command(tmp_path, capsys):
    for name, missing, fetch in [("sanode-mnist", "MNIST/raw/train-images-idx3-ubyte", "ossci-datasets"),
                                 ("sanode-fashion-mnist", "FashionMNIST/raw/train-images-idx3-ubyte", "fashion-mnist"),
                                 ("ncode-cifar10", "cifar-10-batches-py/data_batch_1", "cifar-10-python.tar.gz"),
                                 ("akorn-sudoku9", "sudoku/features.pt", "sudoku.zip")]:
        with pytest.raises(reproduce.MissingDataError) as err:
            reproduce.run(name, data_root=tmp_path, out=tmp_path / "out")
        assert missing in str(err.value) and fetch in str(err.value) and str(tmp_path) in str(err.value)
    assert cli_main(["relu-mnist-hamming", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "train-images-idx3-ubyte is missing" in capsys.readouterr().err


def test_listing_names_every_experiment_and_its_paper_target(capsys):
    assert cli_main([]) == 0
    text = capsys.readouterr().out
    for name, (target, _) in reproduce.EXPERIMENTS.items():
        assert name in text and target[:20] in text
    with pytest.raises(ValueError, match="unknown experiment"):
        reproduce.experiment("sanode-cifar")


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_readers_on_files_in_the_standard_formats(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = {s: rng.integers(0, 256, (n, 28, 28)) for s, n in (("train", 7), ("t10k", 3))}
    labels = {s: rng.integers(0, 10, len(images[s])) for s in images}
    for s in images:
        _write_idx(raw / f"{s}-images-idx3-ubyte.gz", images[s])
        _write_idx(raw / f"{s}-labels-idx1-ubyte.gz", labels[s])
    Xtr, ytr, Xte, yte = rdata.load("mnist", tmp_path)
    assert Xtr.shape == (7, 1, 28, 28) and Xte.shape == (3, 1, 28, 28)
    torch.testing.assert_close(Xtr[:, 0] * 255, torch.tensor(images["train"], dtype=torch.float32))
    assert yte.tolist() == labels["t10k"].tolist() and ytr.dtype == torch.long
    # a truncated file is refused, not read short
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2])))
    with pytest.raises(ValueError, match="header says"):
        rdata.load("mnist", tmp_path)

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        batches.append(data)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [1, 7]}, f)
    Xtr, ytr, Xte, yte = rdata.load("cifar10", tmp_path)
    assert Xtr.shape == (10, 3, 32, 32) and Xte.shape == (2, 3, 32, 32) and ytr.tolist() == [1, 7] * 5
    assert torch.equal((Xte * 255).round().to(torch.uint8).flatten(1), torch.from_numpy(batches[-1]))
    assert torch.equal((Xtr[1, 2] * 255).round().to(torch.uint8), torch.from_numpy(batches[0][1, 2048:].reshape(32, 32)))

    sols = rdata.sudoku9_solutions(12, seed=3)
    puzzles = torch.where(torch.rand(12, 9, 9, generator=torch.Generator().manual_seed(0)) < 0.5, sols, 0)
    (tmp_path / "sudoku").mkdir()
    onehot = lambda b: torch.nn.functional.one_hot(b, 10)[..., 1:].float()  # blanks: all zeros
    torch.save(onehot(puzzles), tmp_path / "sudoku" / "features.pt")
    torch.save(onehot(sols), tmp_path / "sudoku" / "labels.pt")
    Ptr, Str, Pte, Ste = rdata.load_sudoku9(tmp_path, n_train=9)
    assert torch.equal(torch.cat([Ptr, Pte]), puzzles) and torch.equal(torch.cat([Str, Ste]), sols) and len(Pte) == 3


def test_sudoku_stand_in_boards_are_valid_with_satnet_givens():
    P, S, Pt, St = rdata.standin("sudoku9")
    boards, puzzles = torch.cat([S, St]), torch.cat([P, Pt])
    assert is_valid(boards).all() and consistent(boards, puzzles).all()
    givens = (puzzles > 0).flatten(1).sum(1)
    assert givens.min() >= 31 and givens.max() <= 42
    assert len({tuple(b.flatten().tolist()) for b in boards}) == len(boards)  # not one board repeated


@pytest.mark.parametrize("name", NAMES)
def test_paper_size_models_take_a_finite_step(name):
    """The paper-scale configuration itself (not the smoke one) builds, and one step on two stand-in
    examples gives a finite loss and a finite gradient for every trainable parameter."""
    torch.set_num_threads(1)
    exp = reproduce.experiment(name)
    assert exp.epochs > 1 and exp.batch > 8  # the paper's protocol, not the smoke one
    X, y, _, _ = rdata.standin(exp.dataset, n_train=2, n_test=2)
    X = exp.prepare(X) if exp.prepare else X
    X = X.to(exp.dtype) if X.is_floating_point() else X
    torch.manual_seed(0)
    model = exp.build().to(exp.dtype)
    loss = exp.loss(model, X, y)
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
