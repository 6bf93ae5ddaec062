"""The student's kernel, driven from the grader's process.

:class:`KernelSession` starts a fresh Jupyter kernel, executes a notebook's cells one by one under
a time limit each (an endless cell is interrupted, a kernel that ignores the interrupt or dies is
restarted and the cells that ran before are replayed), and then answers the checkers' requests:
each request is written to a file, run in the kernel by the self-contained source of
:mod:`dyngeo.grading.harness`, and its plain-data response is read back from another file.
"""

import json
import os
import pathlib
import queue
import tempfile
import time

from jupyter_client import KernelManager

HARNESS_SOURCE = (pathlib.Path(__file__).parent / "harness.py").read_text()
INTERRUPT_GRACE = 5.0


class KernelSession:
    """A kernel for one notebook; use as a context manager."""

    def __init__(self, cwd, kernel_name="python3"):
        self.cwd, self.kernel_name = cwd, kernel_name
        self.cells_run = []  # sources of the cells that ran to an end, replayed after a restart
        self.notes = []
        self.cell_limit = 120  # seconds per cell, also when cells are replayed after a restart

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="dyngeo-grade-")
        # IPC sockets in a private folder: no TCP port, nothing another user of the machine can reach
        self.manager = KernelManager(kernel_name=self.kernel_name, transport="ipc",
                                     ip=os.path.join(self.tmp.name, "kernel"))
        self.manager.start_kernel(cwd=self.cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._connect()
        return self

    def __exit__(self, *exc):
        try:
            self.client.stop_channels()
            self.manager.shutdown_kernel(now=True)
        finally:
            self.tmp.cleanup()

    def _connect(self):
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(self, code, timeout):
        """Run ``code``; return ``"ok"``, ``"error"`` (it raised), ``"timeout"`` or ``"died"``."""
        msg_id = self.client.execute(code, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + max(timeout, 0.1)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self._interrupt(msg_id)
            try:
                reply = self.client.get_shell_msg(timeout=min(left, 1.0))
            except queue.Empty:
                if not self.manager.is_alive():
                    self._restart()
                    return "died"
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                self._drain_iopub()
                return "ok" if reply["content"]["status"] == "ok" else "error"

    def _drain_iopub(self):
        while True:
            try:
                self.client.get_iopub_msg(timeout=0.01)
            except queue.Empty:
                return

    def _interrupt(self, msg_id):
        """Interrupt a cell past its limit; restart the kernel if it does not stop."""
        if self.manager.is_alive():
            self.manager.interrupt_kernel()
            deadline = time.monotonic() + INTERRUPT_GRACE
            while time.monotonic() < deadline:
                try:
                    reply = self.client.get_shell_msg(timeout=0.5)
                except queue.Empty:
                    continue
                if reply["parent_header"].get("msg_id") == msg_id:
                    self._drain_iopub()
                    return "timeout"
        self._restart()
        return "timeout"

    def _restart(self):
        """A fresh kernel with the notebook's completed cells run again."""
        try:
            self.client.stop_channels()
        except Exception:
            pass
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=True)
        self.manager.start_kernel(cwd=self.cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._connect()
        replay = list(self.cells_run)
        for source in replay:
            if self.execute(source, self.cell_limit) in ("timeout", "died"):
                self.notes.append("a cell that ran before did not run again after the kernel restarted")
                break

    def run_cells(self, sources, cell_limit, deadline):
        """Execute the notebook's code cells in order; note the cells that fail, hang or kill the kernel."""
        self.cell_limit = cell_limit
        for index, source in sources:
            left = deadline - time.monotonic()
            if left <= 0:
                self.notes.append(f"the notebook's time limit ran out before cell {index}; the rest did not run")
                return
            outcome = self.execute(source, min(cell_limit, left))
            if outcome in ("ok", "error"):  # a cell that raised may still have defined names before it
                self.cells_run.append(source)
            elif outcome == "timeout":
                self.notes.append(f"cell {index} was stopped after {min(cell_limit, left):.0f} s")
            elif outcome == "died":
                self.notes.append(f"the kernel died in cell {index}; it was restarted without that cell")
            # a cell that raised is noted by the checkers of what it failed to define

    def ask(self, request, timeout):
        """Run one harness request in the kernel; return its response (plain data)."""
        request_path = os.path.join(self.tmp.name, "request.json")
        response_path = os.path.join(self.tmp.name, "response.json")
        if os.path.exists(response_path):
            os.remove(response_path)
        with open(request_path, "w") as handle:
            json.dump(request, handle)
        code = (f"(lambda _ns: (exec({HARNESS_SOURCE!r}, _ns), _ns['serve']({request_path!r}, {response_path!r}, "
                f"globals())))({{'__name__': 'dyngeo_harness'}});")
        outcome = self.execute(code, timeout)
        if outcome in ("timeout", "died"):
            return {"status": outcome}
        try:
            with open(response_path) as handle:
                response = json.load(handle)
        except (OSError, ValueError):
            return {"status": "lost"}
        return response if isinstance(response, dict) else {"status": "lost"}
