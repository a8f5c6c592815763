"""What every panel of the page shares: the state, messages, and errors turned into messages."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from CardiacSSLLib.errors import Cancelled, CardiacSSLError

logger = logging.getLogger(__name__)


class Page:
    def __init__(self, state) -> None:
        self.state = state
        self._tasks: set[asyncio.Task] = set()

    def message(self, text: str, kind: str = "info") -> None:
        """The message line at the top of the panel (info, success, warning, error)."""
        self.state.c_message, self.state.c_message_type = text, kind

    def background(self, coroutine) -> None:
        """Run an action as a task: wslink handles a client's messages one at a time, so an awaited
        handler would hold back every later click, slider move and view event of that client."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def task(self, what: str):
        """Busy flag while the block runs; any error becomes a message and the app keeps running.

        Yields False (and does nothing) when another action is still running.
        """
        if self.state.c_busy:
            self.message("please wait: the previous action is still running", "warning")
            self.state.flush()
            yield False
            return
        self.state.c_busy, self.state.c_busy_text = True, what
        self.state.flush()
        try:
            yield True
        except Cancelled:
            self.message(f"{what} stopped", "info")
        except CardiacSSLError as exc:
            self.message(str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - the page must survive any failure
            logger.exception("%s failed", what)
            self.message(f"{what} failed: {type(exc).__name__}: {exc}", "error")
        finally:
            self.state.c_busy, self.state.c_busy_text = False, ""
            self.state.flush()

    def guarded(self, what: str, fn, *args):
        """``fn(*args)``, or None with a message on the page when it fails."""
        try:
            return fn(*args)
        except CardiacSSLError as exc:
            self.message(str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - the page must survive any failure
            logger.exception("%s failed", what)
            self.message(f"{what} failed: {type(exc).__name__}: {exc}", "error")
        return None
