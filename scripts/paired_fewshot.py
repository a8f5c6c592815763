"""A backbone's few-shot evidence for its card and ``models.json``: the cells of ``benchmarks/fewshot_paired.py``.

Reads ``ROOT/n<n>/draw<d>/{scratch,START}/`` (``result.json``: 3D Dice on the scored split;
``model.json``: the fine-tuning recipe), keeps the draws where both starts ran, and states the
paired gain per n with its spread, the way the README's tables do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from CardiacSSLLib.metrics.paired import STRUCTURES, mean_and_sd, paired_gain

RECIPE_KEYS = ("pretrained_lr_scale", "freeze_pretrained_steps")


def read_cells(root: Path, start: str, split: str) -> dict:
    """{"shots": {n: {"draws", "start", "scratch"}}, "steps", "recipe", "split"} from the benchmark's folder.

    Every cell must have been scored on ``split`` (when its record says) and trained with one
    step count and one transfer recipe, or the table would mix protocols.
    """
    shots, steps, recipes = {}, set(), set()
    for folder in sorted(Path(root).glob("n*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
        draws, ours, scratch = [], [], []
        for draw in sorted(folder.glob("draw*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
            a, b = draw / start / "result.json", draw / "scratch" / "result.json"
            if not (a.exists() and b.exists()):
                continue
            records = [json.loads(a.read_text()), json.loads(b.read_text())]
            for record in records:
                if record.get("split", split) != split:
                    raise ValueError(f"{draw} was scored on {record['split']}, not {split}")
            training = json.loads((draw / start / "model.json").read_text())["training"]
            steps.add(training["steps"])
            recipes.add(tuple(training[k] for k in RECIPE_KEYS))
            draws.append(records[0]["draw"])
            ours.append(records[0]["dice"])
            scratch.append(records[1]["dice"])
        if draws:
            shots[int(records[0]["n"])] = {"draws": draws, "start": ours, "scratch": scratch}
    if not shots:
        raise ValueError(f"no paired cells of {start!r} and scratch under {root}")
    if len(steps) != 1 or len(recipes) != 1:
        raise ValueError(f"the cells under {root} mix fine-tuning protocols: steps {steps}, recipes {recipes}")
    recipe = dict(zip(RECIPE_KEYS, recipes.pop(), strict=True))
    return {"shots": shots, "steps": steps.pop(), "recipe": recipe, "split": split}


def summary(cells: dict) -> dict:
    """The ``models.json`` ``fewshot`` entry: mean Dice of the start and of scratch per n, and the paired gain."""
    out = {"steps": cells["steps"], "split": cells["split"], "recipe": cells["recipe"]}
    out["draws"] = {str(n): len(c["draws"]) for n, c in cells["shots"].items()}
    out["mean_dice"] = {str(n): round(mean_and_sd(c["start"], "mean")[0], 4) for n, c in cells["shots"].items()}
    out["scratch_mean_dice"] = {
        str(n): round(mean_and_sd(c["scratch"], "mean")[0], 4) for n, c in cells["shots"].items()
    }
    out["gain"] = {}
    for n, c in cells["shots"].items():
        gain = paired_gain(c["start"], c["scratch"])["mean"]
        out["gain"][str(n)] = {"mean": round(gain["mean"], 4), "sd": round(gain["sd"], 4), "above": gain["above"]}
    return out


def card_lines(cells: dict, command: str) -> list[str]:
    """The card's "Few-shot accuracy" section: scratch and this start per n, and the paired gain."""
    recipe = cells["recipe"]
    lines = [
        "## Few-shot accuracy",
        "",
        f"Fine-tuned on n ACDC training patients (drawn by the draw's seed, the same patients and seed for both "
        f"starts), {cells['steps']} steps, pretrained layers at {recipe['pretrained_lr_scale']:g}x the learning rate "
        f"after {recipe['freeze_pretrained_steps']} head-only steps (the recipe `cardiacssl finetune` uses for this "
        f"backbone unless told otherwise); 3D Dice on the ACDC {cells['split']} split; gain = this backbone - "
        "scratch on the same draw, mean +- SD over draws:",
        "",
        "| n | draws | scratch mean Dice | this backbone | gain LV | gain MYO | gain RV | gain mean | draws above |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    stated_mean = summary(cells)
    for n, c in cells["shots"].items():
        gain = paired_gain(c["start"], c["scratch"])
        row = [str(n), str(len(c["draws"]))]
        for runs, stated in ((c["scratch"], stated_mean["scratch_mean_dice"]), (c["start"], stated_mean["mean_dice"])):
            # the value models.json states (rounded there first), so card and index never differ
            row += [f"{stated[str(n)]:.3f} +- {mean_and_sd(runs, 'mean')[1]:.3f}"]
        row += [f"{gain[s]['mean']:+.3f} +- {gain[s]['sd']:.3f}" for s in STRUCTURES]
        row += [f"{gain['mean']['above']} of {len(c['draws'])}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "A gain counts when it exceeds its spread. Reproduce:", "", "```", command, "```", ""]
    return lines
