"""The command line as a user meets it: outputs, exit codes and messages (never tracebacks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacSSLLib.cli.main import main
from CardiacSSLLib.io import load_label_file, write_cine
from helpers import small_phantom, tiny_checkpoint


@pytest.fixture
def model(tmp_path):
    return str(tiny_checkpoint(tmp_path / "tiny"))


@pytest.fixture
def cine_file(tmp_path):
    cine = small_phantom(n_frames=3, n_slices=4, size=80)
    return write_cine(cine, tmp_path / "cine.nii.gz"), cine


def test_segment_writes_native_geometry_outputs(tmp_path, model, cine_file, capsys):
    path, cine = cine_file
    out = tmp_path / "out"
    rc = main(["segment", str(path), "--model", model, "--out", str(out), "--device", "cpu"])
    assert rc == 0
    label, geom = load_label_file(out / "segmentation.nii.gz")
    assert label.shape == cine.image.shape
    assert geom.isclose(cine.geometry)
    for name in ("overlay.png", "metrics.csv", "metrics.json", "volume_curve.png"):
        assert (out / name).stat().st_size > 0
    assert "segmentation:" in capsys.readouterr().out
    # running again must not overwrite silently
    rc = main(["segment", str(path), "--model", model, "--out", str(out), "--device", "cpu"])
    assert rc == 2 and "overwrite" in capsys.readouterr().err
    assert main(["segment", str(path), "--model", model, "--out", str(out), "--overwrite", "--device", "cpu"]) == 0


def test_segment_seg_nrrd_per_frame_and_json_progress(tmp_path, model, cine_file, capsys):
    path, cine = cine_file
    out = tmp_path / "o"
    rc = main(
        [
            "segment",
            str(path),
            "--model",
            model,
            "--out",
            str(out),
            "--frames",
            "0,2",
            "--format",
            "seg.nrrd",
            "--json-progress",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in out.glob("*.seg.nrrd")) == [
        "segmentation_frame00.seg.nrrd",
        "segmentation_frame02.seg.nrrd",
    ]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["event"] == "done" and lines[-1]["frames"] == [0, 2]
    assert any(e["event"] == "step" for e in lines)


def test_segment_ed_es_writes_the_two_frames_the_volume_curve_picks(tmp_path, monkeypatch, capsys):
    """``--frames ed-es`` goes through the library's frame choice (inference replaced by the truth)."""
    import CardiacSSLLib.inference as inference
    from CardiacSSLLib.metrics.clinical import clinical_metrics

    cine = small_phantom(n_frames=5, n_slices=3, size=48)
    path = write_cine(cine, tmp_path / "cine.nii.gz")
    monkeypatch.setattr(inference, "segment_cine", lambda model, c, frames=None, **kw: cine.label[list(frames)])
    out = tmp_path / "edes"
    assert main(["segment", str(path), "--frames", "ed-es", "--out", str(out), "--json-progress"]) == 0
    truth = clinical_metrics(cine.label, cine.geometry, cine.trigger_times_ms)
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["frames"] == [truth.ed_frame, truth.es_frame] and truth.ed_frame != truth.es_frame
    label, _ = load_label_file(out / "segmentation.nii.gz")
    np.testing.assert_array_equal(label, cine.label[[truth.ed_frame, truth.es_frame]])
    assert done["metrics"]["summary"]["ed_frame"] == truth.ed_frame


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    (tmp / "empty").mkdir()
    (tmp / "notdicom").mkdir()
    (tmp / "notdicom" / "x.dcm").write_text("hello")
    img2d = sitk.GetImageFromArray(np.random.rand(32, 32).astype(np.float32))
    sitk.WriteImage(img2d, str(tmp / "slice2d.nii.gz"))
    vol3d = sitk.GetImageFromArray(np.random.rand(6, 32, 32).astype(np.float32))
    sitk.WriteImage(vol3d, str(tmp / "volume3d.nii.gz"))
    nan = np.random.rand(3, 4, 32, 32).astype(np.float32)
    nan[1, 2, 5, 5] = np.nan
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in nan]), str(tmp / "nan4d.nii.gz"))
    return {
        "missing": tmp / "does_not_exist",
        "empty": tmp / "empty",
        "notdicom": tmp / "notdicom",
        "2d": tmp / "slice2d.nii.gz",
        "3d": tmp / "volume3d.nii.gz",
        "nan": tmp / "nan4d.nii.gz",
    }


@pytest.mark.parametrize(
    "case,message",
    [
        ("missing", "does not exist"),
        ("empty", "empty|no DICOM|no files"),
        ("notdicom", "DICOM"),
        ("2d", "2D|slice"),
        ("3d", "3D|single|frame"),
        ("nan", "NaN"),
    ],
)
def test_bad_input_exit_2_with_message(tmp_path, model, capsys, case, message):
    path = _bad_inputs(tmp_path)[case]
    rc = main(["segment", str(path), "--model", model, "--out", str(tmp_path / "o"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    import re

    assert re.search(message, err, re.IGNORECASE), err


def test_model_errors_exit_3(tmp_path, model, cine_file, capsys):
    path, _ = cine_file
    assert main(["segment", str(path), "--model", "no-such-model", "--out", str(tmp_path / "a")]) == 3
    assert "unknown model" in capsys.readouterr().err
    weights = Path(model).with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:500])
    assert main(["segment", str(path), "--model", model, "--out", str(tmp_path / "b")]) == 3
    assert "corrupted" in capsys.readouterr().err


def test_failed_segment_leaves_no_folder_behind_but_keeps_an_existing_one(tmp_path, model, cine_file, capsys):
    path, _ = cine_file
    new = tmp_path / "new" / "out"
    assert main(["segment", str(path), "--model", "no-such-model", "--out", str(new)]) == 3
    assert not (tmp_path / "new").exists()
    assert main(["segment", str(path), "--model", model, "--frames", "7", "--out", str(new)]) == 2
    assert "out of range" in capsys.readouterr().err and not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["segment", str(path), "--model", "no-such-model", "--out", str(mine)]) == 3
    assert (mine / "notes.txt").read_text() == "keep"


def test_demo_explains_model_minus_truth(tmp_path, model, capsys):
    args = ["--frames", "0,9", "--device", "cpu"]  # the default phantom's ED and ES frames: quicker than all 25
    assert main(["demo", "--model", model, "--out", str(tmp_path / "demo"), *args]) == 0
    out = capsys.readouterr().out
    assert "phantom truth: LV EF" in out and "model - truth: LV EF" in out
    assert "why: " in out  # a measured reason (border shifts), or that the model found no LV
    assert sorted(p.name for p in (tmp_path / "demo").iterdir())[:2] == ["metrics.csv", "metrics.json"]


def test_output_under_a_file_is_refused(tmp_path, model, cine_file, capsys):
    path, _ = cine_file
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["segment", str(path), "--model", model, "--out", str(blocker / "out")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_metrics_command_on_a_label_file(tmp_path, capsys):
    from CardiacSSLLib.io import write_segmentation

    cine = small_phantom(n_frames=5, n_slices=6, size=96)
    seg = write_segmentation(cine.label, cine, tmp_path / "seg.nii.gz")
    assert main(["metrics", str(seg), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["summary"]
    assert result["lv_ef_percent"] == pytest.approx(cine.meta["ef_percent"]["LV"], abs=0.5)
    bad = tmp_path / "bad.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((4, 8, 8), 7, np.uint8)), str(bad))
    assert main(["metrics", str(bad)]) == 2
    assert "values [7]" in capsys.readouterr().err


def test_evaluate_pred_vs_gt(tmp_path, capsys):
    from CardiacSSLLib.io import write_segmentation

    cine = small_phantom(n_frames=2, n_slices=4, size=64)
    gt = write_segmentation(cine.label, cine, tmp_path / "gt.nii.gz")
    assert main(["evaluate", "--pred", str(gt), "--gt", str(gt)]) == 0
    out = capsys.readouterr().out
    assert "LV" in out and "1.000" in out


def test_models_lists_and_unknown_subcommand(tmp_path, monkeypatch, capsys):
    from CardiacSSLLib import registry

    monkeypatch.setenv(registry.HOME_ENV, str(tmp_path / "home"))
    tiny_checkpoint(registry.user_model_dir("my-finetuned-model-from-six-patients") / "model")
    assert main(["models"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert any("(default)" in row for row in rows)
    for column in ("kind", "origin", "accuracy"):  # every row's column starts under its heading
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start : start + 1] != " " for row in rows), (column, rows)
    assert main(["no-such-command"]) == 2


def test_models_shows_a_backbones_paired_few_shot_gain(tmp_path, monkeypatch, capsys):
    import json

    from CardiacSSLLib import registry
    from CardiacSSLLib.checkpoint import sha256_file

    bundled = tmp_path / "bundled"
    tiny_checkpoint(bundled / "bb")
    fewshot = {"mean_dice": {"1": 0.668, "5": 0.777}, "scratch_mean_dice": {"1": 0.615, "5": 0.777}}
    fewshot["gain"] = {"1": {"mean": 0.053, "sd": 0.076}, "5": {"mean": 0.001, "sd": 0.029}}
    entry = {"name": "bb", "kind": "backbone", "file": "bb.safetensors", "summary": {"fewshot": fewshot}}
    entry["sha256"] = sha256_file(bundled / "bb.safetensors")
    (bundled / "models.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv(registry.MODELS_ENV, str(bundled))
    monkeypatch.setenv(registry.HOME_ENV, str(tmp_path / "home"))
    assert main(["models"]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("bb "))
    assert "n=1 0.668 (scratch 0.615, paired gain +0.053 +- 0.076)" in row and "n=5 0.777" in row


def test_every_option_of_every_command_says_what_it_does():
    import argparse

    from CardiacSSLLib.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = {
        name: [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
        for name, parser in sub.choices.items()
    }
    assert {name: opts for name, opts in silent.items() if opts} == {}


def test_console_script_runs_as_module(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "CardiacSSLLib.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "cardiacssl" in proc.stdout


@pytest.mark.data
def test_segment_sunnybrook_dicom_cine(tmp_path, model, sunnybrook_dir, capsys):
    dicom = sunnybrook_dir / "dicoms" / "SCD0000101"
    out = tmp_path / "sb"
    assert main(["segment", str(dicom), "--model", model, "--out", str(out), "--device", "cpu"]) == 0
    label, geom = load_label_file(out / "segmentation.nii.gz")
    assert label.shape[0] == 20 and label.shape[-2:] == (256, 256)
    from CardiacSSLLib.io import load_cine

    assert geom.isclose(load_cine(dicom).geometry)


def test_read_only_output_folder_is_a_clear_error(read_only_dir, model, cine_file, capsys):
    path, _ = cine_file
    rc = main(["segment", str(path), "--model", model, "--out", str(read_only_dir), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write to output folder" in err and "Traceback" not in err
    assert list(read_only_dir.iterdir()) == []
