"""`cardiacssl evaluate`: Dice at ED and ES and clinical agreement on real, labelled data."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacSSLLib.cli.main import main
from CardiacSSLLib.evaluation import acdc_split_studies, evaluate_acdc, evaluate_folder
from CardiacSSLLib.io.datasets import load_acdc_h5_volume, read_acdc_info
from CardiacSSLLib.labels import from_canonical


@pytest.mark.data
def test_acdc_h5_gets_spacing_group_and_frames_from_info_csv(acdc_dir, tmp_path):
    info = read_acdc_info(acdc_dir)
    assert len(info) == 100 and {i.group for i in info.values()} == {"NOR", "MINF", "DCM", "HCM", "RV"}
    cine = load_acdc_h5_volume(acdc_dir / "data" / "patient028_frame01.h5")
    row = info["patient028"]
    assert cine.geometry.spacing_known and cine.geometry.spacing == row.spacing
    assert cine.meta["group"] == row.group and cine.n_slices == 10
    # the same file without the csv beside it: spacing unknown, never guessed
    (tmp_path / "data").mkdir()
    shutil.copy(acdc_dir / "data" / "patient028_frame01.h5", tmp_path / "data")
    assert not load_acdc_h5_volume(tmp_path / "data" / "patient028_frame01.h5").geometry.spacing_known


def _write_acdc_patient_folder(study, root):
    """An ACDC patient folder in the original NIfTI layout from an HDF5 study (same pixels)."""
    pid = study.name
    folder = root / pid
    folder.mkdir(parents=True)
    frames = []
    for t in range(study.cine.n_frames):
        img = sitk.GetImageFromArray(study.cine.image[t])
        img.SetSpacing(study.cine.geometry.spacing)
        frames.append(img)
        gt = sitk.GetImageFromArray(from_canonical(study.cine.label[t], "acdc"))
        gt.CopyInformation(img)
        sitk.WriteImage(gt, str(folder / f"{pid}_frame{t + 1:02d}_gt.nii.gz"))
    sitk.WriteImage(sitk.JoinSeries(frames), str(folder / f"{pid}_4d.nii.gz"))
    (folder / "Info.cfg").write_text(f"ED: 1\nES: 2\nGroup: {study.group}\n")
    return folder


@pytest.mark.slow
@pytest.mark.data
def test_evaluate_acdc_report_and_user_folder_agree(acdc_dir, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        ["evaluate", "--acdc", str(acdc_dir), "--split", "val", "--limit", "2", "--device", "cpu", "--out", str(out)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "ED" in text and "ES" in text and "LV EF (%)" in text and "LV mass (g)" in text
    with open(out / "acdc_val_agreement.csv") as fh:
        rows = list(csv.DictReader(fh))
    quantities = {r["quantity"] for r in rows if r["group"] == "all"}
    assert quantities == {"lv_edv", "lv_esv", "lv_sv", "lv_ef", "lv_mass", "rv_edv", "rv_esv", "rv_ef"}
    assert {r["group"] for r in rows} > {"all"}  # per diagnostic group too
    assert all(r["n"] == "2" for r in rows if r["group"] == "all")
    png = (out / "acdc_val_bland_altman.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    with open(out / "acdc_val_cases.csv") as fh:
        cases = list(csv.DictReader(fh))
    assert {c["phase"] for c in cases} == {"ED", "ES"} and len(cases) == 2 * 2 * 3
    assert all(0.5 < float(c["dice"]) <= 1 for c in cases)  # a trained default model, not noise

    # the same two patients as a user's folder of ACDC NIfTI studies: the same numbers
    studies = list(acdc_split_studies(acdc_dir, "val", limit=2))
    for study in studies:
        _write_acdc_patient_folder(study, tmp_path / "mine")
    mine = evaluate_folder("default", tmp_path / "mine", device="cpu")
    ref = evaluate_acdc("default", acdc_dir, "val", device="cpu", limit=2)
    assert mine["summary"]["mean"]["dice"] == pytest.approx(ref["summary"]["mean"]["dice"], abs=1e-4)
    for a, b in zip(mine["patients"], ref["patients"], strict=True):
        assert a["group"] == b["group"] and a["manual"]["lv_edv"] == pytest.approx(b["manual"]["lv_edv"])
        assert a["model"]["lv_ef"] == pytest.approx(b["model"]["lv_ef"], abs=0.01)
    # manual volumes are physical: a normal-range LV EDV in ml, not pixels
    assert all(40 < p["manual"]["lv_edv"] < 500 for p in ref["patients"])
    assert np.isfinite([r["r"] for r in ref["agreement"] if r["group"] == "all"]).sum() == 0  # n = 2: no r


@pytest.mark.slow
@pytest.mark.data
def test_evaluate_sunnybrook_lv_only_with_limit(sunnybrook_dir, tmp_path, capsys):
    code = main(
        ["evaluate", "--sunnybrook", str(sunnybrook_dir), "--limit", "1", "--device", "cpu", "--precision", "fp32"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "fp32 inference" in text  # the report names what ran: auto differs between CPUs
    assert "1 studies" in text and "RV" not in text.split("vs manual")[0] and "LV EF" in text
