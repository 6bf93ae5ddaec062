"""Fixtures shared by the library tests."""

import pytest
import torch


@pytest.fixture
def float64():
    """Compare against closed forms in double precision; restore the default dtype afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
