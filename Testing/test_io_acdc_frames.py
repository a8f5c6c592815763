"""ACDC patient folders as most copies ship them (ED/ES frames and _gt files, no _4d), and lone 3D volumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from test_io_datasets import canonical_heart, image3d

from CardiacSSLLib.cli.main import main
from CardiacSSLLib.evaluation import folder_studies
from CardiacSSLLib.io import load_cine, load_label_file, write_cine
from CardiacSSLLib.io._common import image_from_array
from CardiacSSLLib.labels import from_canonical
from helpers import small_phantom, tiny_checkpoint

ED, ES = 1, 12


def make_patient(root: Path, info: bool = True, name: str = "patient042") -> tuple[Path, np.ndarray]:
    folder = root / name
    folder.mkdir(parents=True)
    frames = np.random.default_rng(5).integers(0, 300, size=(2, 3, 20, 22)).astype(np.int16)
    for frame, number in zip(frames, (ED, ES), strict=True):
        sitk.WriteImage(image3d(frame), str(folder / f"{name}_frame{number:02d}.nii.gz"))
        gt = canonical_heart()
        if number == ES:
            gt[gt == 1] = 0  # a smaller blood pool at ES
            gt[:, 9:12, 7:10] = 1
        sitk.WriteImage(image3d(from_canonical(gt, "acdc")), str(folder / f"{name}_frame{number:02d}_gt.nii.gz"))
    if info:
        (folder / "Info.cfg").write_text(f"ED: {ED}\nES: {ES}\nGroup: DCM\nNbFrame: 30\n")
    return folder, frames


@pytest.mark.parametrize("info", [True, False])
def test_acdc_folder_without_4d_is_a_two_frame_cine(tmp_path, info):
    folder, frames = make_patient(tmp_path, info=info)
    cine = load_cine(folder)
    assert cine.n_frames == 2  # the _gt files are labels, not frames 3 and 4
    np.testing.assert_array_equal(cine.image, frames)
    assert cine.frame_names == ["patient042_frame01.nii.gz", "patient042_frame12.nii.gz"]
    assert cine.meta["acdc_frame_numbers"] == [ED, ES]
    assert cine.labelled_frames() == [0, 1]
    assert (cine.label[0] == 1).sum() > (cine.label[1] == 1).sum() > 0
    if info:
        assert (cine.meta["ed_frame"], cine.meta["es_frame"]) == (0, 1)
        assert cine.meta["info"]["Group"] == "DCM"
    else:
        assert "ed_frame" not in cine.meta


def test_evaluate_data_uses_the_gt_files(tmp_path, capsys):
    root = tmp_path / "mine"
    make_patient(root, info=True, name="patient042")
    make_patient(root, info=False, name="patient043")
    studies = list(folder_studies(root))
    assert [(s.name, s.ed, s.es, s.group) for s in studies] == [("patient042", 0, 1, "DCM"), ("patient043", 0, 1, "")]
    model = str(tiny_checkpoint(tmp_path / "tiny"))
    out = tmp_path / "report"
    rc = main(["evaluate", "--data", str(root), "--model", model, "--device", "cpu", "--json-out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())[0]
    assert sorted({c["case"].split("_")[0] for c in result["cases"]}) == ["patient042", "patient043"]


def test_segment_acdc_folder_writes_two_frames(tmp_path):
    phantom = small_phantom(n_frames=4, n_slices=4, size=96)
    folder = tmp_path / "patient077"
    folder.mkdir()
    for t, number in ((0, ED), (2, ES)):  # the phantom's ED and ES are its first and middle frames
        write_cine(phantom.frame(t), folder / f"patient077_frame{number:02d}.nii.gz")
        gt = image_from_array(from_canonical(phantom.label[t], "acdc"), phantom.geometry)
        sitk.WriteImage(gt, str(folder / f"patient077_frame{number:02d}_gt.nii.gz"))
    out = tmp_path / "out"
    assert main(["segment", str(folder), "--out", str(out), "--device", "cpu"]) == 0
    label, _ = load_label_file(out / "segmentation.nii.gz")
    assert label.shape == (2, *phantom.frame_shape)
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert (summary["ed_frame"], summary["es_frame"]) == (0, 1)
    assert summary["lv_ef_percent"] > 20


def test_label_files_beside_frames_are_not_frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(3):
        sitk.WriteImage(image3d(np.full((3, 20, 22), t, np.int16)), str(folder / f"cine_{t}.nii.gz"))
        sitk.WriteImage(image3d(canonical_heart()), str(folder / f"cine_{t}_seg.nii.gz"))
    cine = load_cine(folder)
    assert cine.n_frames == 3
    assert [int(f.max()) for f in cine.image] == [0, 1, 2]


def test_lone_3d_volume_segments_as_one_frame(tmp_path, capsys):
    phantom = small_phantom(n_frames=2, n_slices=5, size=96)
    path = write_cine(phantom.frame(0), tmp_path / "ed_stack.nii.gz")
    assert sitk.ReadImage(str(path)).GetDimension() == 3  # a 3D file, not a one-frame 4D one
    out = tmp_path / "out"
    assert main(["segment", str(path), "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    label, _ = load_label_file(out / "segmentation.nii.gz")
    assert label.shape == phantom.image.shape[1:]
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["lv_edv_ml"] > 1 and summary["lv_mass_ed_g"] > 1
    assert summary["lv_ef_percent"] is None or np.isnan(summary["lv_ef_percent"])
    assert "EF need two frames" in printed
    # metrics on the written 3D label map says the same
    assert main(["metrics", str(out / "segmentation.nii.gz")]) == 0
    again = capsys.readouterr().out
    assert "single frame" in again and "lv_edv_ml" in again
