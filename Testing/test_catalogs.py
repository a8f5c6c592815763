"""One source of truth per catalog (methods, readable suffixes, metric rows, labels), and they agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from CardiacSSLLib import labels
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.method_names import METHOD_NAMES, method_title
from CardiacSSLLib.metrics.summary_rows import FRAME_KEYS, SUMMARY_ROWS
from CardiacSSLLib.suffixes import CINE_FILE_SUFFIXES, DICOM_SUFFIXES, file_dialog_filter, has_suffix

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = (
    "CardiacSSLLib.method_names",
    "CardiacSSLLib.suffixes",
    "CardiacSSLLib.metrics.summary_rows",
    "CardiacSSLLib.labels",
    "CardiacSSLLib.segment_frames",
)


def test_catalogs_import_without_torch():
    code = (
        f"import sys; import {', '.join(CATALOGS)}; "
        "bad = [m for m in ('torch', 'monai') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_method_names_agree_with_the_registry():
    from CardiacSSLLib.methods import METHODS

    assert list(METHOD_NAMES) == list(METHODS)
    assert method_title("PIX2REP") == "Pix2Rep" and method_title("byol") == "byol"


def test_backbone_label_names_the_method(tmp_path):
    from types import SimpleNamespace

    from CardiacSSLWorkflow.finetune_logic import backbone_label

    (tmp_path / "b.json").write_text('{"method": "dino"}')
    entry = SimpleNamespace(name="b", origin="bundled", path=tmp_path / "b", summary={})
    assert backbone_label(entry) == "b (pretrained DINO)"


def test_summary_rows_are_keys_of_the_clinical_summary():
    from CardiacSSLLib.metrics.clinical import clinical_metrics
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=4, n_slices=2, size=32, seed=0)
    summary = clinical_metrics(cine.label, cine.geometry, cine.trigger_times_ms).summary()
    keys = [row.key for row in SUMMARY_ROWS]
    assert len(set(keys)) == len(keys) and set(keys) <= set(summary)
    assert set(FRAME_KEYS) <= set(keys)
    measured = {k for k in summary if k.endswith(("_ml", "_percent", "_g")) and k != "voxel_volume_ml"}
    assert measured <= set(keys), f"summary values no front end shows: {measured - set(keys)}"


def test_the_slicer_table_shows_the_catalog_rows():
    from CardiacSSLWorkflow.metrics_logic import _rows

    summary = {row.key: 1.0 for row in SUMMARY_ROWS}
    assert [(name, unit) for name, _, unit in _rows(summary)] == [(r.label, r.unit) for r in SUMMARY_ROWS]


def test_every_readable_suffix_is_offered_and_read(tmp_path):
    from CardiacSSLLib.io import load_cine
    from CardiacSSLWeb.catalog import list_cines

    for suffix in CINE_FILE_SUFFIXES:
        (tmp_path / f"cine{suffix.upper()}").write_bytes(b"not an image")  # suffixes match in any case
        with pytest.raises(InputError) as caught:
            load_cine(tmp_path / f"cine{suffix.upper()}")
        assert "unsupported input file" not in str(caught.value), suffix  # a reader tried it
    (tmp_path / "notes.txt").write_text("x")
    listed = {entry.path.name for entry in list_cines(tmp_path)}
    assert listed == {f"cine{s.upper()}" for s in CINE_FILE_SUFFIXES}
    with pytest.raises(InputError, match="unsupported input file notes.txt.*" + r"\.hdf5"):
        load_cine(tmp_path / "notes.txt")
    assert has_suffix("a/IMG.IMA", DICOM_SUFFIXES) and not has_suffix("a.nii.gz.txt", CINE_FILE_SUFFIXES)


def test_front_ends_take_the_suffixes_from_the_catalog():
    from CardiacSSLLib.cli.main import build_parser

    dialog = file_dialog_filter()
    assert all(f"*{s} " in dialog or f"*{s})" in dialog for s in CINE_FILE_SUFFIXES)
    widget = (ROOT / "CardiacSSL" / "CardiacSSLPanel" / "widget.py").read_text()
    assert "file_dialog_filter()" in widget and "*.nii" not in widget
    segment = build_parser()._subparsers._group_actions[0].choices["segment"].format_help()
    assert all(s in segment for s in CINE_FILE_SUFFIXES)


def test_label_tables_cover_the_same_structures():
    assert list(labels.NAMES) == [labels.LV, labels.MYO, labels.RV]
    assert set(labels.COLORS) == set(labels.SNOMED) == set(labels.NAMES)
    from CardiacSSLWeb.state import SEGMENTS

    assert SEGMENTS == tuple(labels.NAMES.values())
