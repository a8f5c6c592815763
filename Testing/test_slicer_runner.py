"""ProcessRunner: JSON-line progress, exit codes, non-blocking, cancel kills the process tree."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from CardiacSSLWorkflow.finetune_runner import (  # noqa: E402
    RunState,
    SubprocessRunner,
    finetune_command,
)
from CardiacSSLWorkflow.signals import Signal  # noqa: E402

FAKE_WORKER = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    steps, code, sleep = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    if len(sys.argv) > 4:  # a grandchild, to check that cancel reaches the whole tree
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(sys.argv[4], "w").write(str(child.pid))
    print("not json: a stray log line", flush=True)
    for s in range(1, steps + 1):
        print(json.dumps({"event": "step", "step": s, "total": steps, "loss": 1.0 / s, "eta_s": 0.0}), flush=True)
        time.sleep(sleep)
    print("some warning", file=sys.stderr, flush=True)
    if code == 0:
        print(json.dumps({"event": "done", "model": "/x/model", "val_dice": 0.5}), flush=True)
    sys.exit(code)
    """
)


@pytest.fixture()
def worker(tmp_path) -> Path:
    path = tmp_path / "fake_worker.py"
    path.write_text(FAKE_WORKER)
    return path


def test_progress_done_and_exit_codes(worker):
    runner = SubprocessRunner()
    events, finished = [], []
    runner.progress.connect(events.append)
    runner.finished.connect(finished.append)
    runner.start([sys.executable, str(worker), "3", "0", "0"])
    result = runner.wait(timeout=60)
    assert result.state is RunState.SUCCEEDED and result.ok
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3]
    assert result.done == {"event": "done", "model": "/x/model", "val_dice": 0.5}
    assert finished == [result]  # emitted once
    assert runner.poll() is result and not runner.is_running()
    assert "some warning" in result.message
    for code, state in ((2, RunState.BAD_INPUT), (1, RunState.FAILED), (130, RunState.CANCELLED), (7, RunState.FAILED)):
        runner.start([sys.executable, str(worker), "1", str(code), "0"])
        assert runner.wait(timeout=60).state is state
    assert len(finished) == 5  # slots survive reuse of the runner


def test_start_does_not_block_and_cancel_kills_the_tree(worker, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    runner = SubprocessRunner()
    steps = []
    runner.progress.connect(lambda e: steps.append(e["step"]) if e["event"] == "step" else None)
    t0 = time.monotonic()
    runner.start([sys.executable, str(worker), "1000", "0", "0.05", str(pid_file)])
    assert time.monotonic() - t0 < 2.0  # returns at once
    with pytest.raises(RuntimeError):
        runner.start([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while len(steps) < 2 and time.monotonic() < deadline:
        assert runner.poll() is None
        time.sleep(0.02)
    assert steps and pid_file.exists()
    grandchild = int(pid_file.read_text())
    runner.cancel(grace_s=1.0)
    result = runner.wait(timeout=30)
    assert result.state is RunState.CANCELLED
    assert 2 <= len(steps) < 1000
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the worker's child process survived the cancel")


def test_signal_isolates_failing_slots():
    sig, seen = Signal("x"), []

    def broken(_):
        raise RuntimeError("boom")

    sig.connect(broken)
    sig.connect(seen.append)
    sig.connect(seen.append)  # connected once
    sig.emit(1)
    sig.disconnect(broken)
    sig.emit(2)
    assert seen == [1, 2]


def test_finetune_command_matches_the_cli():
    cmd = finetune_command("/ts", "base", "/out", "mine", 50, "gpu", python="py")
    assert cmd == [
        "py", "-m", "CardiacSSLLib.cli.main", "finetune", "--train-set", "/ts", "--init", "base", "--out", "/out",
        "--name", "mine", "--steps", "50", "--device", "gpu", "--json-progress",
    ]  # fmt: skip
    from CardiacSSLLib.cli.main import build_parser

    args = build_parser().parse_args(cmd[3:])  # the real CLI accepts every option
    assert args.steps == 50 and args.json_progress and args.train_set == "/ts"


def test_finetune_command_without_init_is_scratch():
    from CardiacSSLLib.cli.main import build_parser

    for init in (None, ""):
        cmd = finetune_command("/ts", init, "/out", "mine", 5, "cpu", python="py")
        assert "--init" not in cmd
        assert build_parser().parse_args(cmd[3:]).init is None  # the CLI's "omit for scratch"
