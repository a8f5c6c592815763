"""Progress reporting and cancellation shared by every long-running job.

One JSON object per line on request (the Slicer and web front ends parse them), a tqdm
bar on a terminal otherwise. SIGINT/SIGTERM set a flag that loops poll between steps,
so a cancel never interrupts a checkpoint write.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from CardiacSSLLib.errors import Cancelled


class CancelToken:
    """Set by a signal handler or a front end; polled by loops via :meth:`check`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")

    def install_signal_handlers(self) -> Callable[[], None]:
        """Route SIGINT/SIGTERM to :meth:`cancel`; returns a function that restores the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, lambda *_: self.cancel())

        def restore() -> None:
            for s, h in old.items():
                signal.signal(s, h)

        return restore


@dataclass
class Progress:
    """Reports ``step`` events; ``json_stream`` writes JSON lines, else a tqdm bar if interactive."""

    total: int
    description: str = ""
    json_stream: IO[str] | None = None
    show_bar: bool | None = None
    callback: Callable[[dict], None] | None = None
    _bar: object = field(default=None, init=False, repr=False)
    _start: float = field(default_factory=time.monotonic, init=False)
    _first_step: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.show_bar is None:
            self.show_bar = self.json_stream is None and sys.stderr.isatty()
        if self.show_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=self.description, dynamic_ncols=True)

    def event(self, kind: str, **data) -> None:
        record = {"event": kind, **data}
        if self.json_stream is not None:
            self.json_stream.write(json.dumps(record, default=float) + "\n")
            self.json_stream.flush()
        if self.callback is not None:
            self.callback(record)

    def step(self, step: int, **metrics) -> None:
        elapsed = time.monotonic() - self._start
        if self._first_step is None:
            self._first_step = step - 1  # a resumed run starts past 0: rate from the steps run here
        eta = elapsed / max(step - self._first_step, 1) * max(self.total - step, 0)
        rounded = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in metrics.items()}
        self.event("step", step=step, total=self.total, elapsed_s=round(elapsed, 2), eta_s=round(eta, 1), **rounded)
        if self._bar is not None:
            self._bar.n = step
            self._bar.set_postfix({k: v for k, v in rounded.items() if isinstance(v, (int, float))}, refresh=False)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
