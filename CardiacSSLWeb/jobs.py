"""Long work off the page's event loop: inference in a thread, fine-tuning in a process.

The fine-tune process runner (CardiacSSLWorkflow) is polled from an asyncio task; its events
arrive in the event loop's thread, where the page state and MRML may be touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

POLL_S = 0.25


async def in_thread(fn: Callable, *args, **kwargs):
    """Run a blocking, MRML-free call in a worker thread; the page keeps responding."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def in_thread_with_progress(state, fn: Callable, args: tuple, cancel, busy_text: Callable[[int, int], str]):
    """``fn(*args, progress, cancel)`` in a worker thread, steps shown as ``busy_text(step, total)``; Stop offered."""
    from CardiacSSLLib.progress import Progress

    done = [0, 0]  # written by the worker thread, read here

    def on_step(event: dict) -> None:
        done[:] = [event["step"], event["total"]]

    progress = Progress(total=0, show_bar=False, callback=on_step)
    task = asyncio.ensure_future(in_thread(fn, *args, progress, cancel))
    state.c_can_stop = True
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            if done[1]:
                state.c_busy_text = busy_text(*done)
                state.flush()
        return task.result()
    finally:
        state.c_can_stop = False


@dataclass
class FinetuneProgress:
    """What the page shows of a fine-tuning run, updated from the worker's JSON events."""

    total: int = 0
    step: int = 0
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    last: dict = field(default_factory=dict)

    def on_event(self, event: dict) -> None:
        if event.get("event") != "step":
            return
        self.step = int(event.get("step", self.step))
        self.total = int(event.get("total", self.total) or self.total)
        loss = event.get("loss")
        if isinstance(loss, (int, float)):
            self.steps.append(self.step)
            self.losses.append(float(loss))
        self.last = event

    @property
    def percent(self) -> int:
        return int(round(100 * self.step / self.total)) if self.total else 0


async def watch_runner(runner, on_update: Callable[[], None], on_finished: Callable[[object], None]) -> None:
    """Poll ``runner`` until it ends; ``on_update`` after each poll, ``on_finished(result)`` once."""
    try:
        while True:
            result = runner.poll()
            on_update()
            if result is not None:
                on_finished(result)
                return
            await asyncio.sleep(POLL_S)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - a broken poll must not kill the page's event loop
        logger.exception("watching the fine-tuning process failed")
