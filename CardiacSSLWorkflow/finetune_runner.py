"""Long jobs in a separate process: JSON-line progress, exit codes, cancel of the process tree.

The worker (``python -m CardiacSSLLib.cli.main finetune ... --json-progress``) prints one
JSON object per line on stdout; its exit code says how it ended (0 ok, 130 cancelled,
2 bad input, 3 model problem, 1 failure). Reader threads only fill a queue: callbacks
run in the thread that calls :meth:`SubprocessRunner.poll` (Slicer's GUI thread, from a
QTimer), so slots may touch Qt and MRML safely.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from CardiacSSLWorkflow.signals import Signal

logger = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0  # time for the worker to stop cleanly on SIGTERM before it is killed


class RunState(enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"
    BAD_INPUT = "bad input"
    MODEL_ERROR = "model error"
    FAILED = "failed"


EXIT_STATES = {0: RunState.SUCCEEDED, 130: RunState.CANCELLED, 2: RunState.BAD_INPUT, 3: RunState.MODEL_ERROR}


@dataclass
class RunResult:
    state: RunState
    returncode: int | None
    done: dict | None = None  # the worker's {"event": "done", ...} record
    message: str = ""  # last lines of the worker's stderr
    events: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state is RunState.SUCCEEDED


class ProcessRunner(Protocol):
    """What the logic needs from a runner; tests inject fakes."""

    progress: Signal  # emits each JSON event dict
    finished: Signal  # emits the RunResult once

    def start(self, command: list[str], env: dict[str, str] | None = None) -> None: ...

    def poll(self) -> RunResult | None: ...

    def cancel(self) -> None: ...

    def is_running(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> RunResult: ...


def python_executable() -> str:
    """``PythonSlicer`` inside Slicer (Slicer's Python without the GUI), else this interpreter."""
    if "slicer" in sys.modules and hasattr(sys.modules["slicer"], "app"):
        found = shutil.which("PythonSlicer", path=os.path.dirname(sys.executable)) or shutil.which("PythonSlicer")
        if found:
            return found
    return sys.executable


class SubprocessRunner:
    """Non-blocking ``subprocess.Popen`` runner in its own process group."""

    def __init__(self, stderr_lines: int = 40) -> None:
        self.progress = Signal("progress")
        self.finished = Signal("finished")
        self._stderr_lines = stderr_lines
        self._reset()

    def _reset(self) -> None:
        self._process: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=self._stderr_lines)
        self._events: list[dict] = []
        self._done: dict | None = None
        self._cancel_requested = False
        self._result: RunResult | None = None
        self._threads: list[threading.Thread] = []

    def start(self, command: list[str], env: dict[str, str] | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a job is already running; cancel it first")
        self._reset()  # a runner can be reused; connected slots stay
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        kwargs = _popen_group_kwargs()
        logger.info("starting %s", " ".join(command))
        self._process = subprocess.Popen(
            [str(c) for c in command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env=full_env,
            **kwargs,
        )
        self._threads = [
            threading.Thread(target=self._read, args=(self._process.stdout, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self._process.stderr, "err"), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read(self, stream, kind: str) -> None:
        for line in iter(stream.readline, ""):
            self._queue.put((kind, line.rstrip("\n")))
        stream.close()

    def is_running(self) -> bool:
        return self._process is not None and self._result is None

    def poll(self) -> RunResult | None:
        """Dispatch pending events; returns the result once the process has ended (and emits ``finished``)."""
        if self._process is None:
            return None
        if self._result is not None:
            return self._result
        exited = self._process.poll() is not None
        if exited:
            for t in self._threads:
                t.join(timeout=5)
        while True:
            try:
                kind, line = self._queue.get_nowait()
            except queue.Empty:
                break
            self._dispatch(kind, line)
        if not exited:
            return None
        code = self._process.returncode
        state = RunState.CANCELLED if self._cancel_requested else EXIT_STATES.get(code, RunState.FAILED)
        self._result = RunResult(state, code, self._done, "\n".join(self._stderr), list(self._events))
        self.finished.emit(self._result)
        return self._result

    def _dispatch(self, kind: str, line: str) -> None:
        if kind == "err":
            if line.strip():
                self._stderr.append(line)
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            logger.info("worker: %s", line)
            return
        if not isinstance(event, dict) or "event" not in event:
            return
        self._events.append(event)
        if event["event"] == "done":
            self._done = event
        self.progress.emit(event)

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> RunResult:
        """Block (tests, scripts) until the process ends, dispatching events meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            result = self.poll()
            if result is not None:
                return result
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the worker process did not finish in time")
            time.sleep(interval)

    def cancel(self, grace_s: float = CANCEL_GRACE_S) -> None:
        """Ask the worker's process group to stop (SIGTERM), kill it after ``grace_s`` (Windows: at once).

        The worker writes models atomically (temp file + rename), so a cancel at any
        moment leaves previous models intact. Returns at once; ``finished`` follows.
        """
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._cancel_requested = True
        self._signal_group(process, kill=False)
        threading.Thread(target=self._kill_later, args=(process, grace_s), daemon=True).start()

    @staticmethod
    def _kill_later(process: subprocess.Popen, grace_s: float) -> None:
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            SubprocessRunner._signal_group(process, kill=True)

    @staticmethod
    def _signal_group(process: subprocess.Popen, kill: bool) -> None:
        try:
            if os.name == "nt":
                # Slicer's GUI has no console, so CTRL_BREAK_EVENT cannot reach the worker: the tree is
                # ended at once (workers write results atomically, so nothing half-written stays).
                subprocess.run(
                    ["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True, **_popen_group_kwargs()
                )
            else:
                os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        except (ProcessLookupError, PermissionError, OSError):
            pass  # already gone


def _popen_group_kwargs() -> dict:
    """Process-group and window flags: cancel reaches the whole tree; no console window on Windows.

    The hidden window is what ``slicer.util.launchConsoleProcess`` does (``STARTUPINFO`` with
    ``STARTF_USESHOWWINDOW`` and ``SW_HIDE``; Base/Python/slicer/util.py, Slicer v5.10.0).
    """
    if os.name != "nt":
        return {"start_new_session": True}  # own process group (killpg)
    info = subprocess.STARTUPINFO()
    info.dwFlags |= subprocess.STARTF_USESHOWWINDOW
    info.wShowWindow = 0  # SW_HIDE
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW, "startupinfo": info}


def finetune_command(
    train_set: str | Path,
    init: str | None,
    out: str | Path,
    name: str,
    steps: int,
    device: str = "auto",
    python: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """The worker command line of ``cardiacssl finetune`` with JSON progress; no ``--init`` (empty) is scratch."""
    return [
        python or python_executable(),
        "-m",
        "CardiacSSLLib.cli.main",
        "finetune",
        "--train-set",
        str(train_set),
        *(["--init", str(init)] if init else []),
        "--out",
        str(out),
        "--name",
        name,
        "--steps",
        str(int(steps)),
        "--device",
        device,
        "--json-progress",
        *(extra or []),
    ]
