"""Quality flags: each check fires on the anatomy it names, the ranking finds a broken slice, qc.csv."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from CardiacSSLLib.cli.main import main
from CardiacSSLLib.io import write_cine, write_segmentation
from CardiacSSLLib.quality.anatomy import slice_checks
from CardiacSSLLib.quality.confidence import flip_disagreement
from CardiacSSLLib.quality.curve import curve_checks
from CardiacSSLLib.quality.report import COLUMNS, qc_rows
from CardiacSSLLib.quality.score import QualityWeights, quality_table
from helpers import small_phantom, tiny_checkpoint


def _heart(size: int = 48) -> np.ndarray:
    """One slice: LV disk in a closed MYO ring, RV beside it."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - 24, xx - 20)
    sl = np.zeros((size, size), np.uint8)
    sl[(np.abs(yy - 24) < 8) & (xx > 30) & (xx < 42)] = 3
    sl[r < 10] = 2
    sl[r < 6] = 1
    return sl


def test_a_closed_ring_passes_every_anatomy_check():
    checks = slice_checks(np.stack([_heart()] * 3))
    assert all(v.max() == 0 for v in checks.values())


def test_each_anatomy_check_fires_on_its_own_defect():
    good = _heart()
    open_ring = good.copy()
    open_ring[18:30, 10:20][open_ring[18:30, 10:20] == 2] = 0  # a gap in the wall
    no_myo = np.where(good == 2, 0, good)
    two_pieces = good.copy()
    two_pieces[2:5, 2:5] = 3
    no_rv = np.where(good == 3, 0, good)
    checks = slice_checks(np.stack([good, open_ring, no_myo, two_pieces, no_rv, good]))
    assert checks["open_ring"][1] > 0.1 and checks["open_ring"][0] == 0
    assert checks["lv_without_myo"][2] == 1
    assert checks["extra_components"][3] > 0
    assert checks["rv_missing"][4] == 1 and checks["rv_missing"][0] == 0  # end slices are exempt


def test_stack_end_checks_mark_small_slices_and_the_empty_slice_past_each_end():
    full = _heart()
    apex = np.where(np.hypot(*np.mgrid[-24:24, -20:28]) < 5, full, 0)  # a small cap of the same heart
    empty = np.zeros_like(full)
    checks = slice_checks(np.stack([empty, empty, full, full, apex, empty, empty]))
    assert checks["small_slice"][4] > 0.7 and checks["small_slice"][2] == checks["small_slice"][3] == 0
    assert list(checks["beyond_heart"]) == [0, 1, 0, 0, 0, 1, 0]  # the heart may continue there, not further
    assert checks["small_slice"][[0, 1, 5, 6]].max() == 0  # no heart, nothing small
    assert slice_checks(np.stack([empty, empty]))["beyond_heart"].max() == 0  # no heart anywhere: no end
    # priors raise the score but neither name a flag nor change the ranking: every frame has two ends
    label = np.stack([np.stack([empty, empty, full, full, apex, empty, empty])] * 3)
    table = quality_table(label, ed_frame=0)
    without = quality_table(label, ed_frame=0, weights=QualityWeights(small_slice=0, beyond_heart=0))
    rows = qc_rows(table)
    assert max(r["beyond_heart"] for r in rows) == 1 and max(r["small_slice"] for r in rows) > 0.7
    assert not any(prior in r["flags"] for r in rows for prior in ("small_slice", "beyond_heart"))
    assert table.score[0, 1] > without.score[0, 1]  # the empty slice past the base scores higher
    np.testing.assert_array_equal(table.benefit, without.benefit)


def test_curve_checks_find_a_jump_and_an_ed_that_is_not_the_largest():
    cine = small_phantom(n_frames=8, n_slices=3, size=64)
    label = cine.label.copy()
    assert curve_checks(label, ed_frame=0)["time_jump"].max() < 0.5
    label[3, 1] = 0  # one slice of one phase lost its heart
    checks = curve_checks(label, ed_frame=int(np.argmin((label == 1).sum((1, 2, 3)))))
    assert np.unravel_index(np.argmax(checks["time_jump"]), checks["time_jump"].shape) == (3, 1)
    assert checks["ed_not_max"].max() > 0.2


def test_flip_disagreement_is_zero_for_agreement_and_high_for_a_miss():
    label = np.stack([np.stack([_heart()] * 2)])
    other = label.copy()
    other[0, 1] = 0
    d = flip_disagreement(label, [label, other])
    assert d[0, 0] == 0 and d[0, 1] == pytest.approx(0.5)


def test_the_ranking_puts_a_broken_slice_first():
    cine = small_phantom(n_frames=4, n_slices=4, size=64)
    label = cine.label.copy()
    label[2, 1][label[2, 1] == 2] = 0  # a whole myocardium gone on one slice
    table = quality_table(label, ed_frame=0)
    assert table.ranking()[0] == (2, 1)
    assert table.next_frame() == 2


@pytest.fixture(scope="module")
def cine_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qc")
    cine = small_phantom(n_frames=4, n_slices=3, size=64)
    path = write_cine(cine, tmp / "cine.nii.gz")
    labels = write_segmentation(cine.label, cine, tmp / "labels.nii.gz")
    return cine, path, labels, str(tiny_checkpoint(tmp / "tiny"))


def test_qc_cli_writes_one_ranked_row_per_slice_and_frame(tmp_path, cine_files, capsys):
    cine, path, labels, model = cine_files
    out = tmp_path / "qc"
    args = ["qc", str(path), "--labels", str(labels), "--model", model, "--out", str(out), "--device", "cpu"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "qc.csv")))
    assert len(rows) == cine.n_frames * cine.n_slices and list(rows[0]) == list(COLUMNS)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert float(rows[0]["benefit"]) >= float(rows[-1]["benefit"])
    assert "next frame to correct" in capsys.readouterr().out
    assert main(args) == 2  # qc.csv exists: not replaced without --overwrite
    assert main(["qc", str(path), "--ed-frame", "9", "--model", model, "--out", str(tmp_path / "x")]) == 2


def test_propagate_cli_keeps_the_corrected_frame_and_refuses_bad_frames(tmp_path, cine_files, capsys):
    from CardiacSSLLib.io import load_label_file

    cine, path, labels, _ = cine_files
    out = tmp_path / "p"
    base = ["propagate", str(path), "--labels", str(labels), "--out", str(out), "--device", "cpu"]
    assert main([*base, "--corrected-frames", "0", "--frames", "1", "--json-progress"]) == 0
    new, _ = load_label_file(out / "propagated.nii.gz", expect=cine)
    assert np.array_equal(new[0], cine.label[0]) and np.array_equal(new[2:], cine.label[2:])
    assert '"event": "done"' in capsys.readouterr().out
    assert main([*base, "--corrected-frames", "7", "--overwrite"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_flags_of_given_labels_without_confidence_need_no_torch():
    """The module's fallback where PyTorch is not installed: anatomy and volume-curve flags only."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys\n"
        "for name in ('torch', 'monai'):\n"
        "    sys.modules[name] = None\n"
        "from CardiacSSLLib.phantom import make_phantom\n"
        "from CardiacSSLLib.quality.run import assess_cine\n"
        "cine = make_phantom(n_frames=3, n_slices=2, size=32, seed=1)\n"
        "table, _ = assess_cine('no-model', cine, cine.label, confidence=False)\n"
        "print(table.score.shape, float(table.flags['flip_disagreement'].max()))\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0 and done.stdout.strip() == "(3, 2) 0.0", done.stderr
