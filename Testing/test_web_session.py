"""The web app's session on real MRML (slicer-core): every step goes through CardiacSSLWorkflow.

A small phantom and a tiny random U-Net keep it fast; the fine-tuning process itself is
covered by the Slicer logic tests and the browser end-to-end test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML session tests")
ROOT = Path(__file__).resolve().parents[1]

from CardiacSSLLib.errors import InputError  # noqa: E402
from CardiacSSLLib.io import load_label  # noqa: E402
from CardiacSSLLib.phantom import make_phantom  # noqa: E402
from CardiacSSLWeb.jobs import FinetuneProgress, watch_runner  # noqa: E402
from CardiacSSLWeb.session import Session  # noqa: E402
from helpers import flip_aware_oracle  # noqa: E402
from workflow_check import make_tiny_model, paint_block  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return str(make_tiny_model(tmp_path_factory.mktemp("model") / "model"))


@pytest.fixture
def session(tmp_path, monkeypatch) -> Session:
    monkeypatch.setenv("CARDIACSSL_HOME", str(tmp_path / "home"))
    return Session(slicer.vtkMRMLScene(), train_set=tmp_path / "ts")


@pytest.fixture(scope="module")
def cine():
    return make_phantom(n_frames=3, n_slices=3, size=48, seed=2)


def _segment(session: Session, model: str, frames: str = "all", replace: bool = False):
    job = session.prepare_prediction(model, frames, "cpu", replace)
    return job, session.add_prediction(job, Session.predict(job))


def test_refusals_are_input_errors(session, model, cine):
    with pytest.raises(InputError, match="load a cine"):
        session.prepare_prediction(model, "all", "cpu", False)
    session.show_cine(cine)
    with pytest.raises(InputError, match="no model"):
        session.prepare_prediction("", "all", "cpu", False)
    with pytest.raises(InputError, match="frames must be one of"):
        session.prepare_prediction(model, "some", "cpu", False)
    with pytest.raises(InputError, match="segment the cine first"):
        session.add_to_training_set()
    with pytest.raises(InputError, match="compute the metrics first"):
        session.metrics_csv()
    _segment(session, model)
    with pytest.raises(InputError, match="already has a segmentation"):
        session.prepare_prediction(model, "all", "cpu", False)


def test_load_segment_edit_store_and_download(session, model, cine, tmp_path):
    nodes = session.show_cine(cine)
    assert session.n_frames == 3 and nodes.sequence.GetNumberOfDataNodes() == 3
    assert session.set_frame(99) == 2 and session.current_frame() == 2  # clipped to the cine
    session.set_frame(1)
    job, result = _segment(session, model)
    assert result.frames == [0, 1, 2] and job.frames == [0, 1, 2]
    status = session.status()
    assert status["segmented_frames"] == [0, 1, 2] and status["edited_voxels"] == 0
    # a user correction through MRML on the shown frame (1)
    block = (slice(0, 3), slice(20, 28), slice(20, 28))
    paint_block(session.segmentation_node, "LV", block, cine.geometry, cine.frame_shape)
    status = session.status()
    expected = session.predicted[1].copy()
    expected[block] = 1
    assert status["edited_voxels"] == int((expected != session.predicted[1]).sum()) > 0
    assert status["edited_to"]["1"] == status["edited_voxels"] and status["edited_slices"] == [0, 1, 2]
    np.testing.assert_array_equal(session.shown_label(), expected)
    session.set_frame(0)  # the edit stays with frame 1
    assert session.status()["edited_voxels"] == 0
    session.set_frame(1)
    np.testing.assert_array_equal(session.shown_label(), expected)

    case_ids = session.add_to_training_set("current")
    stored = session.training_set.store.load(case_ids[0])
    np.testing.assert_array_equal(stored.label[0], expected)
    assert session.status()["training_cases"] == 1

    name, data = session.segmentation_file()
    assert name == f"{cine.name}_seg.nii.gz"
    (tmp_path / name).write_bytes(data)
    label = load_label(tmp_path / name, cine)
    np.testing.assert_array_equal(label[1], expected)
    np.testing.assert_array_equal(label[0], session.predicted[0])

    metrics = session.compute_metrics()
    assert metrics.frames == [0, 1, 2] and metrics.table.GetNumberOfRows() >= 9
    again = session.compute_metrics()  # recomputing reuses the table node
    assert again.table is metrics.table
    csv = session.metrics_csv().decode()
    assert csv.splitlines()[0].startswith("section") and len(csv.splitlines()) > 9


def test_one_frame_run_downloads_that_frame(session, model, cine, tmp_path):
    session.show_cine(cine)
    session.set_frame(2)
    _, result = _segment(session, model, frames="current")
    assert result.frames == [2]
    assert session.segmentation_filename() == f"{cine.name}_frame2_seg.nii.gz"
    name, data = session.segmentation_file()
    (tmp_path / name).write_bytes(data)
    label = load_label(tmp_path / name, cine.frame(2))
    np.testing.assert_array_equal(label.reshape(cine.frame_shape), session.predicted[2])
    session.set_frame(0)
    assert session.shown_label() is None and "label_counts" not in session.status()


def test_replace_and_reload_start_clean(session, model, cine):
    session.show_cine(cine)
    _segment(session, model)
    _, result = _segment(session, model, frames="current", replace=True)
    assert result.frames == [0]
    assert session.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 1
    session.show_cine(cine)  # a new cine clears the scene and the results
    assert session.result is None and session.predicted == {}
    assert session.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0


class _State(dict):
    """The attribute access and flush() of a trame state."""

    def __getattr__(self, name):
        return self[name]

    def __setattr__(self, name, value):
        self[name] = value

    def flush(self):
        pass


def test_ed_es_button_value_reaches_the_module_logic(session, cine, monkeypatch):
    """The page's "ED + ES" choice runs SegmentLogic.predict in that mode (the module's own ED/ES choice)."""
    import CardiacSSLLib.inference as inference
    from CardiacSSLLib.metrics.clinical import clinical_metrics
    from CardiacSSLWeb.page import Page
    from CardiacSSLWeb.segment_panel import SegmentPanel
    from CardiacSSLWeb.state import DEFAULTS, WebConfig
    from CardiacSSLWorkflow.segment_logic import SegmentLogic

    def oracle(model, c, frames=None, **kwargs):  # the true labels: checks the plumbing, not a network
        return cine.label[list(frames)].copy()

    modes, real_predict = [], SegmentLogic.predict

    def spy(*args, **kwargs):
        modes.append(args[3])
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(inference, "segment_cine", oracle)
    monkeypatch.setattr(SegmentLogic, "predict", staticmethod(spy))
    session.show_cine(cine)
    page = Page(_State(DEFAULTS, c_model="oracle", c_frames_mode="ed-es", c_device="cpu", c_loaded=True))
    segmented = []
    panel = SegmentPanel(page, session, WebConfig(), segmented.append)
    asyncio.run(panel._segment())

    truth = clinical_metrics(cine.label, cine.geometry, cine.trigger_times_ms)
    assert page.state.c_message_type == "success", page.state.c_message
    assert modes == ["ed-es"]
    assert segmented[0].ed_es == (truth.ed_frame, truth.es_frame) != (None, None)
    assert segmented[0].frames == [truth.ed_frame, truth.es_frame]
    assert f"ED frame {truth.ed_frame} and ES frame {truth.es_frame}" in page.state.c_message
    assert sorted(session.predicted) == sorted({truth.ed_frame, truth.es_frame})
    assert session.segmentation_node.GetAttribute("CardiacSSL.frames") == f"{truth.ed_frame},{truth.es_frame}"


def test_finetune_progress_and_runner_watch():
    progress = FinetuneProgress(total=4)
    for step, loss in ((1, 0.9), (2, 0.7)):
        progress.on_event({"event": "step", "step": step, "total": 4, "loss": loss})
    progress.on_event({"event": "done", "val_dice": 0.5})
    assert (progress.step, progress.percent, progress.losses, progress.steps) == (2, 50, [0.9, 0.7], [1, 2])

    class FakeRunner:
        def __init__(self):
            self.polls = 0

        def poll(self):
            self.polls += 1
            return "result" if self.polls == 3 else None

    runner, updates, finished = FakeRunner(), [], []
    asyncio.run(watch_runner(runner, lambda: updates.append(1), finished.append))
    assert runner.polls == 3 and len(updates) == 3 and finished == ["result"]


def test_finetune_start_point_select_reaches_the_worker_command(session, model, cine, tmp_path, monkeypatch):
    """The page's "Start from" list is the module's; the chosen start becomes the worker's --init."""
    from CardiacSSLLib.checkpoint import save_checkpoint
    from CardiacSSLLib.models.unet import UNetConfig, build_unet
    from CardiacSSLWeb.finetune_panel import FinetunePanel
    from CardiacSSLWeb.page import Page
    from CardiacSSLWeb.state import DEFAULTS, WebConfig
    from CardiacSSLWorkflow.finetune_logic import START_SCRATCH, START_SELECTED, list_start_points

    class FakeState(dict):  # a trame state's attribute access
        __getattr__, __setattr__ = dict.__getitem__, dict.__setitem__

        def flush(self):
            pass

    from helpers import RecordingRunner

    monkeypatch.setenv("CARDIACSSL_MODELS", str(tmp_path / "no-bundled-models"))
    net = build_unet(UNetConfig(features=(4, 8)))
    stem = tmp_path / "home" / "models" / "my-bb" / "model"
    recipe = {"pretrained_lr_scale": 0.3, "freeze_pretrained_steps": 50}  # what its card's numbers used
    config = {"kind": "backbone", "method": "mim", "network": net.config.to_dict(), "finetune": recipe}
    save_checkpoint(stem, net.state_dict(), config)
    session.finetune.runner = RecordingRunner()
    page = Page(FakeState(DEFAULTS))
    panel = FinetunePanel(page, session, WebConfig(), on_new_model=lambda name: None)
    panel.refresh_inits()
    values = [i["value"] for i in page.state.c_ft_inits]
    # an unmeasured backbone (no few-shot numbers on its card) comes after scratch (list_start_points)
    assert values == [c.value for c in list_start_points()] == [START_SELECTED, START_SCRATCH, "my-bb"]
    assert page.state.c_ft_init == START_SELECTED
    assert page.state.c_ft_recommended is True and "defaults" in page.state.c_ft_recipe_text
    page.state.c_ft_init = "my-bb"
    panel.show_recipe()  # what the state change of the select or the checkbox calls
    assert (page.state.c_ft_lr_scale, page.state.c_ft_freeze_steps) == (0.3, 50)
    assert "recorded by my-bb" in page.state.c_ft_recipe_text

    session.show_cine(cine)
    _segment(session, model)
    session.add_to_training_set()

    async def start(choice: str, name: str) -> list[str]:
        page.state.update({"c_ft_init": choice, "c_ft_name": name, "c_model": model, "c_device": "cpu"})
        panel.on_finetune()
        panel._watch.cancel()  # the recorded run never ends: do not watch it
        return session.finetune.runner.command

    command = asyncio.run(start("my-bb", "from-bb"))
    assert command[command.index("--init") + 1] == "my-bb" and "from my-bb" in page.state.c_ft_text
    # "Recommended for this start" (the default): no options, the worker applies the backbone's recipe
    assert "--pretrained-lr-scale" not in command and "--freeze-pretrained-steps" not in command
    page.state.c_ft_recommended = False
    panel.show_recipe()  # unchecked: the fields keep their values for the user to edit
    assert (page.state.c_ft_lr_scale, page.state.c_ft_freeze_steps) == (0.3, 50)
    page.state.update({"c_ft_lr_scale": 0.25, "c_ft_freeze_steps": 40})  # the advanced fields
    panel.config.finetune_args = ["--batch-size", "2", "--pretrained-lr-scale", "0.5"]
    command = asyncio.run(start("my-bb", "from-bb-staged"))
    assert command[command.index("--freeze-pretrained-steps") + 1] == "40"
    scales = [command[i + 1] for i, arg in enumerate(command) if arg == "--pretrained-lr-scale"]
    assert scales == ["0.5", "0.25"] and command[command.index("--batch-size") + 1] == "2"  # the page's comes last
    panel.config.finetune_args = []
    for bad in ({"c_ft_lr_scale": -1}, {"c_ft_lr_scale": "x"}, {"c_ft_lr_scale": 1, "c_ft_freeze_steps": 2.5}):
        page.state.update(bad)
        session.finetune.runner.command = None
        panel.on_finetune()  # refused with a message: no run starts
        assert session.finetune.runner.command is None and page.state.c_message_type == "error"
        assert "learning-rate factor" in page.state.c_message or "warm-up steps" in page.state.c_message
    page.state.update({"c_ft_lr_scale": 1.0, "c_ft_freeze_steps": 0})
    command = asyncio.run(start(START_SCRATCH, "from-scratch"))
    assert "--init" not in command and "scratch" in page.state.c_ft_text
    command = asyncio.run(start(START_SELECTED, "from-model"))
    # unchecked: both sent even at 1 and 0 (without them a backbone's recipe would apply)
    assert command[command.index("--init") + 1] == model and command[-4:] == [
        "--pretrained-lr-scale", "1", "--freeze-pretrained-steps", "0"
    ]  # fmt: skip
    page.state.update({"c_ft_init": "gone-backbone"})
    panel.refresh_inits()  # a start point no longer installed falls back to the default
    assert page.state.c_ft_init == START_SELECTED


@pytest.fixture
def damaged_result(session, cine, monkeypatch):
    """The phantom segmented by an oracle, then frame 2 slice 1 damaged (its myocardium lost)."""
    import CardiacSSLLib.inference as inference

    monkeypatch.setattr(inference, "segment_cine", flip_aware_oracle(cine))
    session.show_cine(cine)
    _segment(session, "oracle")
    damaged = cine.label[2].copy()
    damaged[1][damaged[1] == 2] = 0
    session.set_labels([2], damaged[None])
    return session


def test_quality_table_goes_to_the_damaged_slice_and_propagation_undoes(damaged_result, cine):
    from CardiacSSLWorkflow import qc_logic
    from CardiacSSLWorkflow.propagate_logic import compute

    session = damaged_result
    rows = qc_logic.rows(qc_logic.compute(session.quality_request("oracle", "cpu")))  # the oracle agrees with its flips
    assert len(rows) == 3 * 3 and (rows[0]["frame"], rows[0]["slice"]) == (2, 1) and rows[0]["flags"]
    red = slicer.vtkMRMLSliceNode()
    red.SetLayoutName("Red")  # the app's view (a bare scene has none); axial
    session.scene.AddNode(red)
    ras = session.go_to(2, 1)
    assert session.current_frame() == 2 and red.GetSliceOffset() == pytest.approx(ras[2])

    session.set_frame(0)
    session.add_to_training_set("current")  # frame 0 is the corrected one
    session.set_frame(1)  # not the frame shown: the training set says which frame was corrected
    node = session.segmentation_node
    before = dict(session.segment_logic.frame_labels(node, session.input_node))
    request = session.propagation_request("registration", device="cpu")
    assert request.corrected == [0]
    proposal = compute(request)
    session.set_labels(proposal.frames, proposal.after)
    after = dict(session.segment_logic.frame_labels(node, session.input_node))
    assert (after[2][1] == 2).sum() > 0.5 * (cine.label[2][1] == 2).sum()  # the ring came back
    np.testing.assert_array_equal(after[0], before[0])  # the corrected frame untouched
    session.set_labels(proposal.frames, proposal.before)  # undo
    undone = dict(session.segment_logic.frame_labels(node, session.input_node))
    assert all(np.array_equal(undone[f], before[f]) for f in before)
