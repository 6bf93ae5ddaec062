"""Seeded random draws that work on every device (a leaf of the library)."""


def draw(sampler, shape, generator=None, device=None, dtype=None):
    """``sampler(shape)`` (``torch.rand`` or ``torch.randn``) on ``device``. With a ``generator`` the
    numbers are drawn on the generator's device and then moved, so one seeded CPU generator serves
    CUDA tensors too, and gives the same numbers on every device."""
    source = generator.device if generator is not None else device
    return sampler(shape, generator=generator, device=source, dtype=dtype).to(device)
