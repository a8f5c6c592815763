"""Paired few-shot statistics and the backbone card built from ``benchmarks/fewshot_paired.py``'s cells."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from CardiacSSLLib.metrics.paired import paired_gain

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import paired_fewshot  # noqa: E402  (a script module beside bundle_model.py)

START = "_runs_backbone.safetensors"


def _dice(rng, base: float) -> dict:
    d = {s: float(np.clip(base + rng.normal(0, 0.05), 0, 1)) for s in ("LV", "MYO", "RV")}
    return d | {"mean": float(np.mean(list(d.values())))}


def _write_cells(root: Path, shots=(1, 5), draws=3, recipe=(0.3, 50), split="test", seed=0) -> dict:
    """The folder layout fewshot_paired.py leaves, with random but paired Dice values; returns them."""
    rng, truth = np.random.default_rng(seed), {}
    for n in shots:
        for d in range(draws):
            base = 0.5 + 0.05 * n + 0.1 * d  # the draw moves Dice far more than the start
            for name, shift in (("scratch", 0.0), (START, 0.03)):
                cell = root / f"n{n}" / f"draw{d}" / name
                cell.mkdir(parents=True)
                dice = _dice(rng, base + shift)
                truth[(name, n, d)] = dice
                record = {"init": name, "n": n, "draw": d, "split": split, "dice": dice}
                (cell / "result.json").write_text(json.dumps(record))
                training = {"steps": 1000, "pretrained_lr_scale": recipe[0], "freeze_pretrained_steps": recipe[1]}
                (cell / "model.json").write_text(json.dumps({"training": training}))
    return truth


def test_paired_gain_is_the_mean_and_sd_of_per_draw_differences():
    start = [{"mean": 0.7}, {"mean": 0.5}, {"mean": 0.9}]
    base = [{"mean": 0.6}, {"mean": 0.55}, {"mean": 0.7}]
    g = paired_gain(start, base, structures=("mean",))["mean"]
    diffs = [0.1, -0.05, 0.2]
    assert g["per_draw"] == pytest.approx(diffs)
    assert g["mean"] == pytest.approx(np.mean(diffs)) and g["sd"] == pytest.approx(np.std(diffs, ddof=1))
    assert g["above"] == 2
    assert math.isnan(paired_gain(start[:1], base[:1], ("mean",))["mean"]["sd"])  # one draw: no spread
    with pytest.raises(ValueError):
        paired_gain(start, base[:2])


def test_card_and_summary_state_the_paired_cells(tmp_path):
    truth = _write_cells(tmp_path)
    # a draw where only one start ran is left out, not paired with nothing
    (tmp_path / "n1" / "draw3" / "scratch").mkdir(parents=True)
    cells = paired_fewshot.read_cells(tmp_path, START, "test")
    assert cells["recipe"] == {"pretrained_lr_scale": 0.3, "freeze_pretrained_steps": 50}
    assert cells["shots"][1]["draws"] == [0, 1, 2]
    summary = paired_fewshot.summary(cells)
    for n in (1, 5):
        ours = np.mean([truth[(START, n, d)]["mean"] for d in range(3)])
        gains = [truth[(START, n, d)]["mean"] - truth[("scratch", n, d)]["mean"] for d in range(3)]
        assert summary["mean_dice"][str(n)] == pytest.approx(ours, abs=1e-4)
        assert summary["gain"][str(n)]["mean"] == pytest.approx(np.mean(gains), abs=1e-4)
        assert summary["gain"][str(n)]["sd"] == pytest.approx(np.std(gains, ddof=1), abs=1e-4)
    card = "\n".join(paired_fewshot.card_lines(cells, "python benchmarks/fewshot_paired.py ..."))
    assert card.startswith("## Few-shot accuracy") and "ACDC test split" in card
    # the bundled-model test looks for the start's n = 1 Dice on the card
    assert f"{summary['mean_dice']['1']:.3f}" in card and "0.3x the learning rate after 50" in card


def test_cells_of_another_split_or_recipe_are_refused(tmp_path):
    _write_cells(tmp_path / "val", split="val")
    with pytest.raises(ValueError, match="scored on val"):
        paired_fewshot.read_cells(tmp_path / "val", START, "test")
    _write_cells(tmp_path / "mixed", shots=(1,))
    _write_cells(tmp_path / "other", shots=(5,), recipe=(1.0, 0))
    (tmp_path / "mixed" / "n5").symlink_to(tmp_path / "other" / "n5")
    with pytest.raises(ValueError, match="mix fine-tuning protocols"):
        paired_fewshot.read_cells(tmp_path / "mixed", START, "test")
    with pytest.raises(ValueError, match="no paired cells"):
        paired_fewshot.read_cells(tmp_path / "val", "another_start", "val")
