"""Self-training (noisy student): learn from unlabelled frames through a teacher's pseudo-labels.

1. Teacher: fine-tune on the labelled slices exactly as ``engine.finetune`` does (or take a
   given model fine-tuned that way on the same data).
2. Pseudo-labels: the teacher labels the unlabelled frames; only frames it labels consistently
   under flips are kept (``engine.pseudo_label``).
3. Student: fine-tune again from the same start (scratch or ``init``), same recipe, steps and
   seed, on the labelled slices plus the pseudo-labelled ones (``labelled_share`` of the draws
   stay labelled). The student is the result.

It is the fine-tuning recipe with more data, so a paired benchmark against plain fine-tuning
isolates what the unlabelled frames add.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from CardiacSSLLib.engine.finetune import FinetuneConfig, finetune
from CardiacSSLLib.progress import CancelToken, Progress

log = logging.getLogger(__name__)


@dataclass
class SelfTrainingConfig:
    unlabelled: list[str] = field(default_factory=list)  # sources, as ``pretrain --data``
    teacher: str | None = None  # a model fine-tuned on the same labelled data; None = train one first
    min_agreement: float = 0.9  # flip-consistency needed to keep a pseudo-labelled frame


def self_train(
    cfg: FinetuneConfig,
    st: SelfTrainingConfig,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Teacher -> pseudo-labels -> student; returns the student's checkpoint stem ``<out>/model``."""
    from CardiacSSLLib.device import resolve_device
    from CardiacSSLLib.engine.pseudo_label import pseudo_label
    from CardiacSSLLib.engine.unlabelled import load_unlabelled
    from CardiacSSLLib.errors import InputError, OutputExistsError
    from CardiacSSLLib.inference import load_model

    if not st.unlabelled:
        raise InputError("self-training needs unlabelled frames: give --unlabelled SOURCE (or --acdc)")
    out = Path(cfg.out)
    if (out / "model.json").exists() and not cfg.overwrite:
        raise OutputExistsError(f"{out / 'model.json'} exists: choose another --out or pass --overwrite")
    progress = progress or Progress(total=cfg.steps, description="self-training")

    teacher = st.teacher
    if teacher is None:
        progress.event("stage", stage="teacher")
        teacher_cfg = replace(cfg, out=str(out / "teacher"), name="")
        teacher = str(finetune(teacher_cfg, _stage(progress, cfg.steps, "teacher"), cancel)) + ".safetensors"

    progress.event("stage", stage="pseudo-labels")
    frames = load_unlabelled(st.unlabelled, cfg.patch_size, cfg.target_spacing)
    net, _ = load_model(teacher)
    device = resolve_device(cfg.device)
    labelling = _stage(progress, len(frames), "pseudo-labels")
    try:
        slices, stats = pseudo_label(net, frames, device, st.min_agreement, progress=labelling, cancel=cancel)
    finally:
        labelling.close()
    progress.event("pseudo_labels", frames=stats.frames, kept=stats.kept, empty=stats.empty)
    if not slices:
        raise InputError(
            f"the teacher labelled none of the {stats.frames} unlabelled frames consistently "
            f"(agreement >= {st.min_agreement}): lower --min-agreement or label more slices"
        )
    log.info("%d of %d unlabelled frames pseudo-labelled", stats.kept, stats.frames)

    progress.event("stage", stage="student")
    info = {
        "semi_supervised": "self_training",
        "self_training": {
            "teacher": str(teacher),
            "unlabelled": list(st.unlabelled),
            "min_agreement": st.min_agreement,
            "frames": stats.frames,
            "pseudo_labelled": stats.kept,
            "labelled_share": cfg.labelled_share,
        },
    }
    return finetune(cfg, _stage(progress, cfg.steps, "student"), cancel, extra_slices=slices, extra_info=info)


def _stage(progress: Progress, total: int, description: str) -> Progress:
    """A fresh bar and clock for one stage, reporting to the same stream and callback."""
    return Progress(
        total=total,
        description=description,
        json_stream=progress.json_stream,
        show_bar=progress.show_bar,
        callback=progress.callback,
    )
