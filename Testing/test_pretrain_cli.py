"""The three pretraining entry points: ``cardiacssl pretrain`` / ``cli.pretrain.main``,
``python -m CardiacSSLLib.cli.pretrain`` and ``scripts/slicer_pretrain.py`` (as Slicer runs it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from CardiacSSLLib.checkpoint import read_config
from CardiacSSLLib.cli.pretrain import main

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--iterations",
    "2",
    "--batch-size",
    "2",
    "--image-size",
    "32",
    "--features",
    "8,16,32,64",
    "--data",
    "phantom:1",
    "--log-every",
    "1",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_main_in_process_writes_a_backbone(tmp_path, capsys):
    out = tmp_path / "mim"
    assert main(["--method", "mim", "--out", str(out), *TINY, "--json-progress"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "done"
    assert [e["step"] for e in lines if e["event"] == "step"] == [1, 2]
    cfg = read_config(out / "backbone")
    assert cfg["kind"] == "backbone" and cfg["method"] == "mim" and cfg["network"]["out_channels"] == 1
    assert cfg["data"]["target_spacing"] == 1.5


def test_cardiacssl_pretrain_subcommand(tmp_path, capsys):
    from CardiacSSLLib.cli.main import main as cardiacssl

    out = tmp_path / "c"
    assert (
        cardiacssl(
            [
                "pretrain",
                "--method",
                "chaitanya",
                "--out",
                str(out),
                *TINY,
                "--set",
                "global_strategy=GD",
                "--set",
                "g1_hidden=16",
                "--set",
                "n_regions=3",
            ]
        )
        == 0
    )
    assert "backbone:" in capsys.readouterr().out
    cfg = read_config(out / "backbone")
    assert cfg["hyperparameters"]["global_strategy"] == "GD" and cfg["hyperparameters"]["g1_hidden"] == 16


@pytest.mark.parametrize(
    "args,message",
    [
        (["--method", "mim"], "--data"),
        (["--method", "mim", "--data", "/no/such/folder"], "does not exist"),
        (["--method", "mim", "--data", "phantom:1", "--set", "oops"], "KEY=VALUE"),
        (["--method", "mim", "--data", "phantom:1", "--set", "bogus=1"], "bad hyperparameters"),
        (["--method", "mim", "--data", "phantom:1", "--iterations", "0"], "positive"),
        (["--method", "mim", "--data", "phantom:1", "--target-spacing", "fine"], "--target-spacing"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


def test_existing_output_is_refused(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["--method", "simclr", "--out", out, *TINY]) == 0
    assert main(["--method", "simclr", "--out", out, *TINY]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["--method", "simclr", "--out", out, *TINY, "--overwrite"]) == 0


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=240)


def test_python_dash_m_entry(tmp_path):
    out = tmp_path / "m"
    r = run(
        [
            sys.executable,
            "-m",
            "CardiacSSLLib.cli.pretrain",
            "--method",
            "pix2rep",
            "--out",
            str(out),
            *TINY,
            "--set",
            "n_pixels=32",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (out / "backbone.safetensors").is_file() and "images/s" in r.stdout


def test_slicer_script_with_plain_python(tmp_path):
    out = tmp_path / "s"
    script = ROOT / "scripts" / "slicer_pretrain.py"
    r = run(
        [sys.executable, str(script), "--", "--method", "pcl", "--out", str(out), *TINY, "--json-progress"], tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["event"] == "done"
    bad = run(
        [sys.executable, str(script), "--", "--method", "pcl", "--out", str(tmp_path / "b"), "--data", "/nope"],
        tmp_path,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_sigint_cancels_with_exit_130_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "k"
    cmd = [
        sys.executable,
        "-m",
        "CardiacSSLLib.cli.pretrain",
        "--method",
        "mim",
        "--out",
        str(out),
        "--iterations",
        "100000",
        "--batch-size",
        "2",
        "--image-size",
        "32",
        "--features",
        "8,16,32,64",
        "--data",
        "phantom:1",
        "--log-every",
        "1",
        "--checkpoint-every",
        "2",
        "--json-progress",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "step" and event["step"] >= 3:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    from CardiacSSLLib.engine.pretrain import latest_training_state

    state = latest_training_state(out)
    assert state is not None and state[0]["step"] >= 2
    assert not (out / "backbone.json").exists()


def _load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("slicer_pretrain", ROOT / "scripts" / "slicer_pretrain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slicer_script_finds_the_library_folder_only_when_needed(tmp_path, monkeypatch):
    script = _load_script()
    assert script._script_args(["--no-main-window", "--", "--method", "mim"]) == ["--method", "mim"]
    assert script._script_args(["--method", "mim"]) == ["--method", "mim"]
    before = list(sys.path)
    script._ensure_library()  # importable here: the path is left alone
    assert sys.path == before
    (tmp_path / "CardiacSSLLib").mkdir()
    (tmp_path / "CardiacSSLLib" / "__init__.py").write_text("")
    monkeypatch.setenv("CARDIACSSL_LIBRARY_DIR", str(tmp_path))
    monkeypatch.setattr(script.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    script._ensure_library()
    assert sys.path[0] == str(tmp_path)


def test_slicer_script_finds_an_installed_extension_inside_slicer(tmp_path, monkeypatch):
    from types import SimpleNamespace

    script = _load_script()
    assert script._installed_extension_folders() == [] or "slicer" in sys.modules  # plain python: none
    installed = tmp_path / "Extensions-1" / "CardiacSSL" / "lib" / "Slicer-5.10" / "qt-scripted-modules"
    (installed / "CardiacSSLLib").mkdir(parents=True)
    (installed / "CardiacSSLLib" / "__init__.py").write_text("")
    fake_slicer = SimpleNamespace(app=SimpleNamespace(extensionsInstallPath=str(tmp_path / "Extensions-1")))
    monkeypatch.setitem(sys.modules, "slicer", fake_slicer)
    assert script._installed_extension_folders() == [installed]
    fake_slicer.modules = SimpleNamespace(cardiacssl=SimpleNamespace(path=str(installed / "CardiacSSL.py")))
    assert script._installed_extension_folders()[0] == installed
    monkeypatch.delenv("CARDIACSSL_LIBRARY_DIR", raising=False)
    monkeypatch.setattr(script.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(script, "__file__", str(tmp_path / "elsewhere" / "scripts" / "slicer_pretrain.py"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    script._ensure_library()
    assert sys.path[0] == str(installed)
