"""Training-set store: exact native-geometry round trip, provenance, atomic add/remove."""

from __future__ import annotations

import json

import numpy as np
import pytest

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io.trainingset import CASE_FILE, Provenance, TrainingSet


def _oblique_geometry() -> Geometry:
    a = 0.4
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]) @ np.array(
        [[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]]
    )
    return Geometry(spacing=(1.33, 1.41, 8.5), origin=(-12.5, 40.25, 103.0), direction=tuple(rot.ravel()))


def _frame(seed: int = 0, shape=(5, 21, 19)) -> tuple[Cine, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.normal(100, 30, size=(1, *shape)).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    label[1:4, 5:12, 4:10] = 2
    label[1:4, 7:10, 6:8] = 1
    label[2, 14:18, 3:9] = 3
    return Cine(image=image, geometry=_oblique_geometry(), trigger_times_ms=np.array([33.0]), source="/x/SCD01"), label


def test_add_load_round_trip_is_exact(tmp_path):
    cine, label = _frame()
    ts = TrainingSet(tmp_path / "ts")
    case_id = ts.add(cine, label, Provenance(source="/data/SCD0000101", frame=7, model="tiny"))
    loaded = ts.load(case_id)
    assert loaded.n_frames == 1
    np.testing.assert_array_equal(loaded.image[0], cine.image[0])
    np.testing.assert_array_equal(loaded.label[0], label)
    assert loaded.geometry.isclose(cine.geometry, tol=1e-6)
    assert loaded.labelled.all()
    assert loaded.meta["provenance"]["frame"] == 7
    assert loaded.meta["provenance"]["model"] == "tiny"
    assert loaded.meta["provenance"]["created"]  # filled in at add time
    files = sorted(p.name for p in (tmp_path / "ts" / "cases" / case_id).iterdir())
    assert files == ["case.json", "image.nii.gz", "label.nii.gz"]


def test_array_input_list_remove_and_reopen(tmp_path):
    cine, label = _frame(1)
    ts = TrainingSet(tmp_path)
    a = ts.add(cine.image[0], label, {"source": "a.nii.gz", "frame": 0}, geometry=cine.geometry)
    b = ts.add(cine, label, Provenance(source="b"), labelled_slices=[1, 2])
    assert a != b
    reopened = TrainingSet(tmp_path)  # a restart of Slicer: same folder, same cases
    infos = reopened.cases()
    assert [c.case_id for c in infos] == [a, b]
    assert infos[0].label_voxels["RV"] == int((label == 3).sum())
    assert infos[0].spacing == pytest.approx(cine.geometry.spacing)
    assert reopened.load(b).labelled[0].tolist() == [False, True, True, False, False]
    assert len(reopened.load_all()) == 2
    reopened.remove(a)
    assert [c.case_id for c in TrainingSet(tmp_path).cases()] == [b]
    with pytest.raises(InputError):
        reopened.remove(a)
    with pytest.raises(InputError):
        reopened.remove("../cases")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda img, lab: (img, lab[:, :-1]), "differs"),
        (lambda img, lab: (img, np.zeros_like(lab)), "empty"),
        (lambda img, lab: (img, np.where(lab == 1, 5, lab)), "not in"),
        (lambda img, lab: (np.concatenate([img, img]), lab), "one frame"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(tmp_path, mutate, message):
    cine, label = _frame()
    image, label = mutate(cine.image, label)
    ts = TrainingSet(tmp_path)
    with pytest.raises(InputError, match=message):
        ts.add(Cine(image=image, geometry=cine.geometry), label, Provenance(source="x"))
    assert ts.cases() == []
    assert not (tmp_path / "cases").exists() or not any((tmp_path / "cases").iterdir())


def test_interrupted_write_leaves_no_case(tmp_path, monkeypatch):
    cine, label = _frame()
    ts = TrainingSet(tmp_path)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(TrainingSet, "_write_case", staticmethod(boom))
    with pytest.raises(KeyboardInterrupt):
        ts.add(cine, label, Provenance(source="x"))
    assert list((tmp_path / "cases").iterdir()) == []


def test_damaged_case_is_reported(tmp_path):
    cine, label = _frame()
    ts = TrainingSet(tmp_path)
    case_id = ts.add(cine, label, Provenance(source="x"))
    (tmp_path / "cases" / case_id / CASE_FILE).write_text("{not json")
    with pytest.raises(InputError, match="unreadable"):
        ts.cases()
    (tmp_path / "cases" / case_id / CASE_FILE).write_text(json.dumps({"shape": [5, 21, 19]}))
    (tmp_path / "cases" / case_id / "label.nii.gz").write_bytes(b"garbage")
    with pytest.raises(InputError, match="damaged"):
        ts.load(case_id)
