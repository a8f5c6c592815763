"""``cardiacssl web``: loopback by default, explicit opt-in for remote, clear message without trame-slicer."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest

from CardiacSSLWeb import cli as web

ROOT = Path(__file__).resolve().parents[1]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    web.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["web", *argv])


@pytest.fixture
def fake_app(monkeypatch):
    """Stand-in for CardiacSSLWeb.app: records the config instead of serving."""
    served = []
    fake = types.SimpleNamespace(
        WebConfig=lambda **kw: types.SimpleNamespace(**kw), serve=lambda c: served.append(c) or 0
    )
    monkeypatch.setattr(web, "_import_web_app", lambda: fake)
    monkeypatch.setattr(web.importlib.util, "find_spec", lambda name: object())
    return served


def test_defaults_bind_loopback(fake_app):
    args = _args()
    assert (args.host, args.port, args.allow_remote) == ("127.0.0.1", 8080, False)
    assert web.run(args) == 0
    assert fake_app[0].host == "127.0.0.1" and fake_app[0].models == [] and fake_app[0].finetune_args == []


def test_non_loopback_host_needs_allow_remote(fake_app, capsys):
    assert web.run(_args("--host", "0.0.0.0")) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert not fake_app


def test_allow_remote_warns(fake_app, capsys):
    assert web.run(_args("--host", "0.0.0.0", "--allow-remote", "--port", "9123")) == 0
    err = capsys.readouterr().err
    assert "WARNING" in err and "0.0.0.0:9123" in err and "authentication" in err
    assert fake_app[0].host == "0.0.0.0" and fake_app[0].port == 9123


def test_options_reach_the_config(fake_app, tmp_path):
    args = _args(
        "--data",
        str(tmp_path),
        "--train-set",
        str(tmp_path / "ts"),
        "--model",
        "a.safetensors",
        "--model",
        "b.safetensors",
        "--steps",
        "7",
        "--finetune-args",
        "--batch-size 2 --patch-size 64",
    )
    assert web.run(args) == 0
    config = fake_app[0]
    assert config.data == tmp_path and config.train_set == tmp_path / "ts" and config.finetune_steps == 7
    assert [Path(m).name for m in config.models] == ["a.safetensors", "b.safetensors"]
    assert config.finetune_args == ["--batch-size", "2", "--patch-size", "64"]


def test_bad_data_folder_and_port(fake_app, tmp_path, capsys):
    assert web.run(_args("--data", str(tmp_path / "missing"))) == 2
    assert "not a folder" in capsys.readouterr().err
    assert web.run(_args("--port", "70000")) == 2
    assert not fake_app


def test_missing_trame_slicer_is_a_clear_message(monkeypatch, capsys):
    real = web.importlib.util.find_spec
    monkeypatch.setattr(web.importlib.util, "find_spec", lambda n: None if n == "trame_slicer" else real(n))
    monkeypatch.setattr(web, "_import_web_app", lambda: pytest.fail("the app must not be imported"))
    assert web.run(_args()) == 1
    err = capsys.readouterr().err
    assert "trame_slicer" in err and "pip install 'trame-slicer[standalone]'" in err


def test_importing_the_subcommand_imports_no_web_stack():
    code = (
        "import sys, CardiacSSLWeb.cli as w, argparse; p = argparse.ArgumentParser(); "
        "w.add_parser(p.add_subparsers()); "
        "bad = [m for m in ('trame', 'trame_slicer', 'slicer', 'vtk', 'CardiacSSLWeb.app', 'CardiacSSLWorkflow') "
        "if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cardiacssl_finds_web_through_its_entry_point(monkeypatch, fake_app):
    """The library's parser names no front end: ``web`` comes from the ``cardiacssl.commands`` group."""
    from CardiacSSLLib.cli import main as cli_main

    monkeypatch.setattr(cli_main, "plugin_commands", lambda: {})
    assert "web" not in cli_main.build_parser().format_help()
    monkeypatch.setattr(cli_main, "plugin_commands", lambda: {"web": lambda: web.add_parser})
    assert cli_main.main(["web", "--port", "9124"]) == 0
    assert fake_app[0].port == 9124


def test_pyproject_declares_the_web_entry_point():
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points."cardiacssl.commands"]\nweb = "CardiacSSLWeb.cli:add_parser"' in text


def test_python_m_cardiacsslweb_help():
    done = subprocess.run(
        [sys.executable, "-m", "CardiacSSLWeb", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--allow-remote" in done.stdout and "--train-set" in done.stdout
