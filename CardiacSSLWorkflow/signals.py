"""A minimal callback list: custom Qt signals misbehave in PythonQt, plain callables do not."""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Signal:
    """``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``; a failing slot is logged, not raised."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._slots: list[Callable] = []

    def connect(self, slot: Callable) -> None:
        if slot not in self._slots:
            self._slots.append(slot)

    def disconnect(self, slot: Callable) -> None:
        if slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args) -> None:
        for slot in list(self._slots):
            try:
                slot(*args)
            except Exception:  # noqa: BLE001 - one broken slot must not stop the others
                logger.exception("slot %r of signal %r failed", slot, self.name)
