"""Run one command and turn its errors into a ``label: message`` line and the documented exit code.

Exit codes: 0 success, 1 unexpected failure, 2 bad input, 3 model problem, 130 cancelled.
Shared by ``cardiacssl`` and the front ends' worker processes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from CardiacSSLLib.errors import CardiacSSLError


def run_reporting_errors(label: str, call: Callable[[], int | None], verbose: bool = False) -> int:
    """``call()``'s exit code; an error becomes one line on stderr (plus the traceback when ``verbose``)."""
    try:
        return int(call() or 0)
    except CardiacSSLError as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{label}: cancelled", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{label}: out of memory; try --device cpu or fewer frames", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - last resort: a message, plus the traceback when verbose
        logging.getLogger("cardiacssl").debug("failure", exc_info=True)
        hint = "" if verbose else " (run with -v for details)"
        print(f"{label}: failed: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        if verbose:
            import traceback

            traceback.print_exc()
        return 1
