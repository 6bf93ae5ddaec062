"""Tests of dyngeo.train against closed forms (plain SGD on a linear loss)."""

import pytest
import torch

from dyngeo.train import cosine_schedule, fit


def test_fit_follows_the_learning_rate_schedule():
    # loss = w has gradient 1, so SGD moves w by -lr * factor(step) at every step
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    fit(model, lambda m: m.weight.sum(), steps=4, lr=0.1, optimizer=torch.optim.SGD, schedule=cosine_schedule(4))
    # factors 1, (1 + cos(pi/4))/2, 1/2, (1 - cos(pi/4))/2 sum to 2.5
    assert model.weight.item() == pytest.approx(-0.25, abs=1e-7)


def test_fit_clips_and_counts_steps():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    losses = fit(model, lambda m: 100 * m.weight.sum(), steps=3, lr=0.1, optimizer=torch.optim.SGD, clip=1.0)
    assert len(losses) == 3 and model.weight.item() == pytest.approx(-0.3, abs=1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        fit(model, lambda m: m.weight.sum(), steps=-1)
