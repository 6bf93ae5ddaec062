"""Validate and compare what an answer returned, and say why it is wrong.

Checkers receive the student's values as plain data (see :mod:`dyngeo.grading.harness`): Python
numbers, tuples, lists, dicts, ``torch.Tensor`` and ``numpy.ndarray``, and ``Opaque`` for anything
else. Every helper here validates before it compares (type, shape, finite values), so NaN and
infinity never pass, and every failure names the case, what was expected and what came back.
Known mistakes are recognised by value: pass ``hints=[(alternative, cause), ...]`` with what each
mistake would have produced; the generic ones (sign, transpose, a constant factor, float32
precision) are tried on every comparison.
"""

import numpy as np
import torch

from . import GradingError
from .harness import Opaque

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def describe(value):
    """A short name for what came back: ``a float64 tensor of shape (4, 3)``, ``a list of 2 items``..."""
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a NumPy {value.dtype} array of shape {value.shape}"
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def show(value, digits=4):
    """A compact printout of a number or a small array for a message (large ones are summarised)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().double().numpy() if value.is_floating_point() else value.numpy()
    if isinstance(value, np.ndarray):
        if value.size > 12:
            flat = value.reshape(-1)
            return f"[{', '.join(f'{v:.{digits}g}' for v in flat[:6])}, ...] (shape {value.shape})"
        return np.array2string(np.asarray(value), precision=digits, separator=", ", suppress_small=False)
    if isinstance(value, float):
        return f"{value:.{digits + 2}g}"
    return repr(value)


def _finite(array, what):
    if not np.all(np.isfinite(array)):
        bad = "NaN" if np.any(np.isnan(array)) else "infinity"
        raise GradingError(f"{what} contains {bad}")


def number(value, what, integer=False):
    """The answer as a finite Python float (or int): from a number, a NumPy scalar or a one-element array."""
    if isinstance(value, bool) or value is None or isinstance(value, (Opaque, str, list, tuple, dict)):
        raise GradingError(f"{what} should be a number; got {describe(value)}")
    if isinstance(value, (torch.Tensor, np.ndarray)):
        count = value.numel() if isinstance(value, torch.Tensor) else value.size
        if count != 1:
            raise GradingError(f"{what} should be a single number; got {describe(value)}")
        value = value.reshape(-1)[0].item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, complex):
        raise GradingError(f"{what} should be a real number; got the complex number {value}")
    value = float(value)
    _finite(np.array(value), what)
    if integer:
        if value != round(value):
            raise GradingError(f"{what} should be a whole number; got {value}")
        return int(round(value))
    return value


def tensor(value, what, shape=None, kind="float", allow_array=False):
    """The answer as a float64 (or int64/bool) tensor, after checking its type, shape and values.

    ``kind`` is the dtype family expected (``"float"``, ``"int"`` or ``"bool"``); ``allow_array``
    also accepts NumPy arrays and nested lists. A float32 answer is accepted and compared in float64,
    and a comparison that fails at float32 precision says so.
    """
    if isinstance(value, torch.Tensor):
        result = value
    elif allow_array and isinstance(value, (np.ndarray, list, tuple, int, float, np.generic)):
        try:
            result = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError):
            raise GradingError(f"{what} should be an array of numbers; got {describe(value)}") from None
    else:
        expected = "a torch.Tensor" + (" or an array" if allow_array else "")
        raise GradingError(f"{what} should be {expected}; got {describe(value)}")
    if result.is_complex():
        raise GradingError(f"{what} should be real; got {describe(value)}")
    if shape is not None and tuple(result.shape) != tuple(shape):
        raise GradingError(f"{what} should have shape {tuple(shape)}; got {describe(value)}")
    if kind == "float":
        if result.dtype == torch.bool:
            raise GradingError(f"{what} should hold real numbers; got {describe(value)}")
        result = result.to(torch.float64)
        _finite(result.numpy(), what)
    elif kind == "int":
        if result.is_floating_point():
            if not torch.all(result == result.round()):
                raise GradingError(f"{what} should hold whole numbers; got {describe(value)}")
        result = result.to(torch.int64)
    elif kind == "bool":
        if not (result.dtype == torch.bool or torch.all((result == 0) | (result == 1))):
            raise GradingError(f"{what} should hold 0/1 or True/False values; got {describe(value)}")
        result = result.to(torch.bool)
    return result


def array(value, what, shape=None, kind="float"):
    """The answer as a float64 (or int64/bool) NumPy array: accepts tensors, arrays and lists."""
    return tensor(value, what, shape, kind, allow_array=True).numpy()


def sequence(value, what, length):
    """The answer as a list of ``length`` items: a tuple or a list (both are fine)."""
    if not isinstance(value, (list, tuple)):
        raise GradingError(f"{what} should be a tuple of {length} items; got {describe(value)}")
    if len(value) != length:
        raise GradingError(f"{what} should have {length} items; got {len(value)}")
    return list(value)


def _as_array(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _matches(got, alt, rtol, atol):
    alt = _as_array(alt)
    return got.shape == alt.shape and np.allclose(got, alt, rtol=rtol, atol=atol)


def diagnose(got, expected, rtol, atol):
    """The likely cause when ``got`` misses ``expected`` by a recognisable pattern, or ``""``."""
    if np.allclose(got, -expected, rtol=rtol, atol=atol) and np.abs(expected).max() > atol:
        return "the sign is flipped"
    if got.ndim == 2 and got.shape == expected.T.shape and np.allclose(got, expected.T, rtol=rtol, atol=atol):
        return "it is the transpose of the expected matrix"
    scale = np.abs(expected).max()
    if scale > 0 and np.abs(got).max() > 0:
        ratio = float((got * expected).sum() / (expected * expected).sum())
        if np.allclose(got, ratio * expected, rtol=1e-6, atol=1e-9 * scale) and abs(ratio - 1) > 1e-3:
            for factor, cause in ((0.5, "half the expected value: a factor 2 is missing"),
                                  (2.0, "twice the expected value: a factor ½ is missing")):
                if abs(ratio - factor) < 1e-6:
                    return cause
            return f"it is the expected value times {ratio:.4g}: a constant factor is off (a mean for a sum?)"
    if np.allclose(got, expected, rtol=1e-5, atol=1e-6):
        return ("the difference is at the level of float32 round-off: compute in the dtype of the inputs "
                "(float64) and avoid float32 constants such as torch.tensor(0.1)")
    return ""


def close(got, expected, what, rtol=1e-6, atol=1e-9, hints=(), case=None):
    """Check that the tensor/array ``got`` equals ``expected`` within tolerance; explain otherwise.

    ``hints`` is a list of ``(value_a_mistake_would_give, cause)``; the first that matches is named.
    """
    label = f"{what} (case: {case})" if case else what
    got = _as_array(tensor(got, label, allow_array=not isinstance(expected, torch.Tensor)))
    want = _as_array(expected)
    where = f" for {case}" if case else ""
    if got.shape != want.shape:
        if got.size == want.size and np.allclose(got.reshape(want.shape), want, rtol=rtol, atol=atol):
            raise GradingError(f"{what}{where} has the right numbers in the wrong shape: expected shape "
                               f"{want.shape}, got {got.shape}")
        raise GradingError(f"{what}{where} should have shape {want.shape}; got {got.shape}")
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return
    cause = next((c for alt, c in hints if _matches(got, alt, max(rtol, 1e-9), max(atol, 1e-12))), "")
    cause = cause or diagnose(got, want, rtol, atol)
    error = np.abs(got - want)
    index = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
    at = f" at index {tuple(int(i) for i in index)}" if index else ""
    message = (f"{what}{where} is off by up to {error.max():.3g}{at} (tolerance {rtol:g} relative, {atol:g} "
               f"absolute): expected {show(want)}, got {show(got)}")
    raise GradingError(message + (f". Likely cause: {cause}" if cause else ""))


def close_number(got, expected, what, rtol=1e-6, atol=1e-9, hints=(), case=None):
    """Like :func:`close` for one number; ``got`` may be a float, an int or a one-element array."""
    value = number(got, f"{what} (case: {case})" if case else what)
    where = f" for {case}" if case else ""
    if abs(value - expected) <= atol + rtol * abs(expected):
        return value
    cause = next((c for alt, c in hints if abs(value - alt) <= max(atol, 1e-12) + max(rtol, 1e-9) * abs(alt)), "")
    cause = cause or diagnose(np.array([value]), np.array([expected]), rtol, atol)
    raise GradingError(f"{what}{where}: expected {expected:.8g}, got {value:.8g}" + (f". Likely cause: {cause}" if cause else ""))
