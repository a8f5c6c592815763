"""What every training run records about itself: the code, the machine, when, how long, where it resumed.

Pretraining, fine-tuning and semi-supervised training open a :class:`RunRecord` when they
start (the commit is read then: the code that trains, not whatever is checked out when it
ends) and merge :meth:`RunRecord.fields` into the config of every checkpoint they save, so
all model JSONs carry the same keys. Older checkpoints wrote the commit as ``git_commit``;
:func:`recorded_commit` reads both.
"""

from __future__ import annotations

import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMIT_KEY = "commit"
_OLD_COMMIT_KEYS = ("git_commit",)  # pretrained backbones bundled before the run record


def git_commit() -> str:
    """Short commit of the source checkout this library runs from; '' outside a git checkout."""
    try:
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return done.stdout.strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def hardware(device) -> str:
    """'NVIDIA H100 80GB HBM3' or 'CPU <model name>, 4 thread(s)' for a torch device."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {name}, {torch.get_num_threads()} thread(s)"


def utc_timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def recorded_commit(config: dict) -> str:
    """The commit a checkpoint config records, under today's key or an older one; '' when none."""
    for key in (COMMIT_KEY, *_OLD_COMMIT_KEYS):
        if config.get(key):
            return str(config[key])
    return ""


@dataclass
class RunRecord:
    """One training run: opened at its start by :meth:`begin`, written into each checkpoint it saves."""

    device: object  # torch.device the run trains on
    commit: str = ""
    resumed_from_step: int | None = None  # the step a resumed run continued from (None: a fresh run)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    @classmethod
    def begin(cls, device) -> RunRecord:
        return cls(device=device, commit=git_commit())

    def resumed_at(self, step: int) -> None:
        """Note that the run continues a cancelled or interrupted one from ``step``."""
        self.resumed_from_step = int(step) if step else None

    @property
    def wall_time_s(self) -> float:
        return round(time.monotonic() - self._t0, 1)

    def fields(self) -> dict:
        """The keys every training loop writes into its checkpoint configs."""
        from CardiacSSLLib import __version__

        out = {
            COMMIT_KEY: self.commit,
            "hardware": hardware(self.device),
            "library_version": __version__,
            "wall_time_s": self.wall_time_s,
            "created": utc_timestamp(),
        }
        if self.resumed_from_step is not None:
            out["resumed_from_step"] = self.resumed_from_step
        return out
