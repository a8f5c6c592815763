"""Clinical volumes, ED/ES, EF and mass against voxel counts; files written; real Sunnybrook cine."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.metrics.clinical import MYO_DENSITY_G_PER_ML, clinical_metrics
from CardiacSSLLib.phantom import make_phantom

GEO = Geometry(spacing=(2.0, 2.0, 5.0))  # 0.02 ml voxels
VOXEL_ML = 0.02


def _label(lv_counts, myo_counts, rv_counts, shape=(4, 10, 10)) -> np.ndarray:
    """(T, Z, Y, X) maps with exactly the given voxel counts per frame."""
    label = np.zeros((len(lv_counts),) + shape, dtype=np.uint8)
    for t, counts in enumerate(zip(lv_counts, myo_counts, rv_counts, strict=True)):
        flat = label[t].reshape(-1)
        start = 0
        for value, n in zip((LV, MYO, RV), counts, strict=True):
            flat[start : start + n] = value
            start += n
    return label


def test_hand_computed_volumes_ed_es_ef_mass():
    label = _label([50, 20, 40], [60, 61, 59], [30, 20, 10])
    res = clinical_metrics(label, GEO, trigger_times_ms=[0.0, 300.0, 600.0])
    assert res.frames == [0, 1, 2] and res.times_ms == [0.0, 300.0, 600.0]
    assert res.lv_volume_ml == pytest.approx([1.0, 0.4, 0.8])
    assert res.myo_volume_ml == pytest.approx([1.2, 1.22, 1.18])
    assert res.ed_frame == 0 and res.es_frame == 1
    assert (res.lv_edv_ml, res.lv_esv_ml, res.lv_sv_ml) == pytest.approx((1.0, 0.4, 0.6))
    assert res.lv_ef_percent == pytest.approx(60.0)
    # RV at the LV's ED/ES frames (0 and 1), not at its own minimum (frame 2)
    assert (res.rv_edv_ml, res.rv_esv_ml) == pytest.approx((0.6, 0.4))
    assert res.rv_ef_percent == pytest.approx(100.0 * 0.2 / 0.6)
    assert res.lv_mass_ed_g == pytest.approx(60 * VOXEL_ML * MYO_DENSITY_G_PER_ML)
    assert res.lv_mass_g[1] == pytest.approx(61 * VOXEL_ML * 1.05)
    assert res.rv_present and res.voxel_volume_ml == pytest.approx(VOXEL_ML)


def test_phantom_volumes_are_voxel_counts():
    cine = make_phantom(n_frames=10, n_slices=6, size=96, spacing=(2.5, 2.5, 10.0), seed=5, noise=0.0)
    res = clinical_metrics(cine.label, cine.geometry, cine.trigger_times_ms)
    voxel_ml = 2.5 * 2.5 * 10.0 / 1000.0
    counts = (cine.label == LV).sum(axis=(1, 2, 3))
    assert res.lv_volume_ml == pytest.approx(list(counts * voxel_ml))
    assert res.ed_frame == int(np.argmax(counts)) == 0
    assert res.es_frame == int(np.argmin(counts)) == 4  # round(0.375 * 10)
    assert res.lv_ef_percent == pytest.approx(100.0 * (counts.max() - counts.min()) / counts.max())
    assert res.lv_ef_percent == pytest.approx(cine.meta["ef_percent"]["LV"])
    assert res.time_of(res.es_frame) == pytest.approx(360.0)


def test_unknown_spacing_refused():
    with pytest.raises(InputError, match="spacing"):
        clinical_metrics(_label([5], [5], [5]), Geometry(spacing_known=False))


def test_single_frame_and_two_frames():
    one = clinical_metrics(_label([50], [60], [0])[0], GEO)  # a (Z, Y, X) map
    assert one.frames == [0] and one.ed_frame == 0 and one.es_frame is None
    assert one.lv_edv_ml == pytest.approx(1.0)
    assert math.isnan(one.lv_ef_percent) and math.isnan(one.lv_esv_ml)
    assert not one.rv_present and math.isnan(one.rv_edv_ml)
    assert any("single frame" in n for n in one.notes) and any("no RV" in n for n in one.notes)
    two = clinical_metrics(_label([25, 50], [60, 60], [40, 30]), GEO)  # ES stored first
    assert (two.ed_frame, two.es_frame) == (1, 0)
    assert two.lv_ef_percent == pytest.approx(50.0)
    assert two.rv_ef_percent == pytest.approx(100.0 * (30 - 40) / 30)  # RV follows LV's ED/ES


def test_frames_subset():
    label = _label([50, 10, 30, 20], [60] * 4, [0] * 4)
    label[1] = 0  # an unlabelled frame (e.g. Sunnybrook): excluded through frames=
    res = clinical_metrics(label, GEO, trigger_times_ms=[0, 10, 20, 30], frames=[3, 0, 2])
    assert res.frames == [0, 2, 3] and res.times_ms == [0.0, 20.0, 30.0]
    assert (res.ed_frame, res.es_frame) == (0, 3)
    assert res.rv_volume_ml[0] != res.rv_volume_ml[0]  # NaN without RV
    with pytest.raises(InputError):
        clinical_metrics(label, GEO, frames=[0, 4])
    with pytest.raises(InputError):
        clinical_metrics(label, GEO, frames=[0, 0])


@pytest.mark.parametrize(
    "label, kwargs",
    [
        (np.zeros((2, 3, 4, 4), np.uint8), {}),  # no LV
        (np.ones((2, 3, 4, 4), np.float32), {}),  # not a label map
        (np.full((2, 3, 4, 4), 5, np.uint8), {}),  # not canonical
        (np.ones((3, 4), np.uint8), {}),  # 2D
        (np.ones((2, 3, 4, 4), np.uint8), {"trigger_times_ms": [0.0]}),
    ],
)
def test_bad_inputs_refused(label, kwargs):
    with pytest.raises(InputError):
        clinical_metrics(label, GEO, **kwargs)


def test_csv_and_json_written_parseable_and_protected(tmp_path):
    res = clinical_metrics(_label([50, 20, 40], [60, 60, 60], [0, 0, 0]), GEO, trigger_times_ms=[0, 300, 600])
    csv_path = res.to_csv(tmp_path / "out" / "clinical.csv")
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    per_frame = [r for r in rows if (r["section"], r["quantity"], r["structure"]) == ("per_frame", "volume", "LV")]
    assert [float(r["value"]) for r in per_frame] == pytest.approx([1.0, 0.4, 0.8])
    assert [float(r["time_ms"]) for r in per_frame] == [0.0, 300.0, 600.0]
    summary = {(r["quantity"], r["structure"]): r for r in rows if r["section"] == "summary"}
    assert float(summary[("EF", "LV")]["value"]) == pytest.approx(60.0) and summary[("EF", "LV")]["unit"] == "%"
    assert int(summary[("ESV", "LV")]["frame"]) == 1
    assert math.isnan(float(summary[("EF", "RV")]["value"]))

    thirds = clinical_metrics(_label([30, 20], [7, 7], [0, 0]), GEO).to_csv(tmp_path / "thirds.csv")
    with open(thirds, newline="") as fh:
        cells = {(r["quantity"], r["structure"]): r["value"] for r in csv.DictReader(fh) if r["section"] == "summary"}
    assert cells[("EF", "LV")] == "33.3333"  # 4 decimals, not 33.33333333333333
    assert cells[("mass_ED", "MYO")] == "0.147"  # 7 * 0.02 ml * 1.05 g/ml, not 0.14700000000000002
    thirds.unlink()

    json_path = res.to_json(tmp_path / "clinical.json")
    data = json.loads(json_path.read_text())
    assert data["summary"]["lv_ef_percent"] == pytest.approx(60.0)
    assert data["summary"]["rv_ef_percent"] is None  # NaN -> null (strict JSON)
    assert [r["lv_volume_ml"] for r in data["per_frame"]] == pytest.approx([1.0, 0.4, 0.8])
    assert data["notes"]

    for writer, path in ((res.to_csv, csv_path), (res.to_json, json_path)):
        with pytest.raises(OutputExistsError):
            writer(path)
        assert writer(path, overwrite=True) == path
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["clinical.csv", "clinical.json"]


@pytest.mark.data
def test_real_sunnybrook_cine(sunnybrook_dir):
    datasets = pytest.importorskip("CardiacSSLLib.io.datasets")
    if not hasattr(datasets, "load_sunnybrook"):
        pytest.skip("CardiacSSLLib.io.datasets.load_sunnybrook is not available")
    cine = datasets.load_sunnybrook(sunnybrook_dir, datasets.list_sunnybrook(sunnybrook_dir)[0])
    lv_labelled = cine.meta.get("lv_labelled", cine.labelled)
    frames = [int(t) for t in np.flatnonzero(np.asarray(lv_labelled).any(axis=1))]
    assert len(frames) >= 2
    res = clinical_metrics(cine.label, cine.geometry, cine.trigger_times_ms, frames=frames)
    assert res.ed_frame != res.es_frame and res.ed_frame in frames and res.es_frame in frames
    assert 50.0 < res.lv_edv_ml < 450.0 and res.lv_esv_ml < res.lv_edv_ml
    assert 5.0 < res.lv_ef_percent < 80.0
    assert 40.0 < res.lv_mass_ed_g < 400.0
    assert not res.rv_present and math.isnan(res.rv_ef_percent)
    assert res.times_ms[res.frames.index(res.ed_frame)] == pytest.approx(cine.trigger_times_ms[res.ed_frame])
