"""The kernel side of grading: run one request against a student's answer and write plain data back.

This module is self-contained (standard library, NumPy and torch only) because the grader sends its
source text into the student's kernel with every request, instead of importing anything the student's
code could have replaced. A request names the answer (a variable of the notebook), a few lines of
code that call it, the inputs those lines use, and the reference functions to switch off meanwhile.
The response holds only data: numbers, strings, lists, dicts and arrays written as raw bytes with a
dtype and a shape (:func:`encode`). The grader decodes it with :func:`decode`, which builds nothing
but those types, never unpickles, and never runs code. Whatever the student's code does to its own
kernel can therefore change only the values it returns, which the grader then judges itself.

The same functions serve the notebook's own check cells (``dyngeo.grading.run_check``), so a student
sees the very behaviour the grader will apply, only with the visible examples' seed.
"""

import base64
import json

import numpy as np

DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
          "complex64", "complex128"}
MAX_STRING = 2000


def _array_record(kind, array, dtype_name=None):
    array = np.ascontiguousarray(array)
    return {kind: {"dtype": dtype_name or str(array.dtype), "shape": list(array.shape),
                   "data": base64.b64encode(array.tobytes()).decode("ascii")}}


def encode(value, depth=0):
    """Plain, JSON-ready data for ``value``: the only thing that leaves the student's kernel."""
    import torch

    if depth > 20:
        return {"object": "a structure nested too deeply"}
    if value is None or type(value) is bool:
        return value
    if type(value) is str:
        return value[:MAX_STRING]
    if type(value) is int:
        return value if abs(value) < 2**63 else float(value)
    if type(value) is float:
        return {"float": repr(value)}
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            tensor = torch.Tensor.detach(value)
            dtype = str(tensor.dtype).replace("torch.", "")
            tensor = tensor.cpu()
            if tensor.is_sparse:
                tensor = tensor.to_dense()
            if dtype in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
                tensor = tensor.float()
            if tensor.is_complex() or dtype in DTYPES or dtype == "bfloat16":
                return _array_record("tensor", tensor.resolve_conj().numpy(), dtype)
        return {"object": f"a tensor of dtype {dtype}"}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.asarray(value)
        if str(array.dtype) not in DTYPES:
            return {"object": f"a NumPy array of dtype {array.dtype}"}
        return _array_record("ndarray" if isinstance(value, np.ndarray) else "npscalar", array)
    if type(value) in (list, tuple):
        return {type(value).__name__: [encode(v, depth + 1) for v in value[:100000]]}
    if type(value) is dict:
        return {"dict": {str(k)[:200]: encode(v, depth + 1) for k, v in list(value.items())[:1000]}}
    return {"object": type(value).__name__[:200]}


def decode(record):
    """The inverse of :func:`encode`: builds only numbers, strings, lists, dicts, arrays and tensors."""
    if record is None or type(record) in (bool, int, str):
        return record
    if type(record) is list:  # never produced by encode; be strict
        raise ValueError("malformed record: a bare list")
    if type(record) is not dict or len(record) != 1:
        raise ValueError("malformed record")
    ((kind, body),) = record.items()
    if kind == "float":
        return float(body)
    if kind in ("list", "tuple"):
        items = [decode(v) for v in body]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {str(k): decode(v) for k, v in body.items()}
    if kind == "object":
        return Opaque(str(body))
    if kind in ("tensor", "ndarray", "npscalar"):
        dtype = str(body["dtype"])
        stored = "float32" if dtype == "bfloat16" else dtype
        if stored not in DTYPES:
            raise ValueError(f"malformed record: dtype {dtype!r}")
        shape = [int(n) for n in body["shape"]]
        data = base64.b64decode(body["data"], validate=True)
        count = int(np.prod(shape)) if shape else 1
        if len(data) != count * np.dtype(stored).itemsize:
            raise ValueError("malformed record: the data do not match the shape")
        array = np.frombuffer(data, dtype=stored).reshape(shape).copy()
        if kind == "npscalar":
            return array[()]
        if kind == "tensor":
            import torch

            tensor = torch.from_numpy(array)
            return tensor.to(torch.bfloat16) if dtype == "bfloat16" else tensor
        return array
    raise ValueError(f"malformed record: unknown kind {kind!r}")


class Opaque:
    """Stands, in the grader, for an object the kernel could not send as data (a model, a function...)."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name}>"


def _resolve(path):
    """``(owner, name, object)`` for a dotted path: "package.module.function" or "...Class.method"."""
    import importlib

    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ImportError(path)


def _switch_off(paths):
    """Make each named function raise while an answer runs; return what restores them.

    A Python function gets a raising code object, so every reference to it is switched off (also one
    imported under another name); a built-in function is replaced on its module or class.
    """
    saved = []
    for path in paths:
        message = (f"{path} is switched off while this exercise's answer runs: the exercise asks you to "
                   "compute this yourself")
        try:
            owner, name, function = _resolve(path)
            function = getattr(function, "__func__", function)
            if hasattr(function, "__code__"):
                code = function.__code__
                function.__code__ = _raiser(message, code.co_freevars)
                saved.append(("code", function, code))
            else:
                setattr(owner, name, _raiser_function(message))
                saved.append(("attr", (owner, name), function))
        except Exception:  # not importable here, or read-only: nothing to switch off
            continue
    return saved


def _restore(saved):
    for kind, where, original in reversed(saved):
        if kind == "code":
            where.__code__ = original
        else:
            setattr(*where, original)


def _raiser_function(message):
    def raiser(*args, **kwargs):
        raise RuntimeError(message)

    return raiser


def _raiser(message, freevars):
    """A code object with the given free variables that raises RuntimeError(message)."""
    names = ", ".join(freevars)
    source = (f"def outer():\n    {' = '.join(freevars) + ' = None' if freevars else 'pass'}\n"
              f"    def raiser(*args, **kwargs):\n"
              + (f"        {names}\n" if freevars else "")
              + f"        raise __import__('builtins').RuntimeError({message!r})\n    return raiser\n")
    namespace = {}
    exec(source, namespace)
    return namespace["outer"]().__code__


class _Alarm:
    """Interrupt the code after ``seconds`` (main thread on POSIX only; the grader has its own limit too)."""

    def __init__(self, seconds):
        self.seconds, self.rang, self.previous = seconds, False, None

    def _ring(self, signum, frame):
        self.rang = True
        raise TimeoutError("time limit")

    def __enter__(self):
        import signal
        import threading

        if self.seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGALRM, self._ring)
            signal.setitimer(signal.ITIMER_REAL, max(float(self.seconds), 0.01))

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def run(request, namespace, store):
    """Run one request in ``namespace`` (the notebook's globals); return the response as plain data.

    ``request`` has ``target`` (the answer's name), ``code`` (statements or one expression, which see
    ``answer``, ``store``, ``torch``, ``np`` and the decoded ``inputs``; statements leave their value in
    ``result``), ``forbid`` (dotted names of functions to switch off while the code runs) and
    ``time_limit`` (seconds, or None).
    """
    import torch

    if request["target"] not in namespace:
        return {"status": "missing"}
    scope = {"answer": namespace[request["target"]], "store": store, "torch": torch, "np": np,
             "__builtins__": __builtins__}
    scope.update({k: decode(v) for k, v in request["inputs"].items()})
    saved = _switch_off(request["forbid"])
    alarm = _Alarm(request.get("time_limit"))
    try:
        with alarm:
            try:
                code = compile(request["code"], "<grader>", "eval")
                value = eval(code, scope)
            except SyntaxError:
                exec(compile(request["code"], "<grader>", "exec"), scope)
                value = scope.get("result")
    except NotImplementedError:
        return {"status": "not_implemented"}
    except BaseException as error:  # SystemExit, KeyboardInterrupt and the rest: report, never propagate
        if alarm.rang:
            return {"status": "timeout"}
        return {"status": "error", "type": type(error).__name__[:100], "message": str(error)[:MAX_STRING]}
    finally:
        _restore(saved)
    try:
        return {"status": "ok", "value": encode(value)}
    except BaseException as error:
        return {"status": "error", "type": type(error).__name__[:100],
                "message": f"the value your code returned could not be read: {str(error)[:500]}"}


def serve(request_path, response_path, namespace):
    """Kernel entry point: read a request file, run it, write the response file (JSON only)."""
    store = namespace.setdefault("_dyngeo_store", {})
    with open(request_path) as handle:
        request = json.load(handle)
    response = run(request, namespace, store.setdefault(request["target"], {}))
    with open(response_path, "w") as handle:
        json.dump(response, handle)
