"""The app's configuration and the page's state fields (names shared by ``ui`` and ``app``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from CardiacSSLLib import labels
from CardiacSSLLib.propagation.methods import DEFAULT_METHOD as DEFAULT_PROPAGATION

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class WebConfig:
    """What ``cardiacssl web`` was asked for."""

    data: Path | None = None  # folder listed at start
    host: str = "127.0.0.1"
    port: int = 8080
    train_set: Path | None = None  # None: the module's default training-set folder
    models: list[str] = field(default_factory=list)  # extra checkpoint paths offered besides the registry
    device: str = "auto"
    finetune_steps: int = 100
    finetune_args: list[str] = field(default_factory=list)  # extra `cardiacssl finetune` options


# State fields of the page (prefixed: trame-slicer's own widgets keep their own names).
DEFAULTS = {
    "c_data_dir": "",
    "c_cines": [],
    "c_cine": None,
    "c_busy": False,
    "c_busy_text": "",
    "c_can_stop": False,
    "c_message": "",
    "c_message_type": "info",
    "c_loaded": False,
    "c_cine_name": "",
    "c_n_frames": 1,
    "c_frame": 0,
    "c_frame_text": "",
    "c_models": [],
    "c_model": None,
    "c_frames_mode": "all",
    "c_device": "auto",
    "c_replace": False,
    "c_card_open": False,
    "c_card_title": "",
    "c_card_text": "",
    "c_segmented": False,
    "c_active_segment": "LV",
    "c_active_tool": "",
    "c_cases": 0,
    "c_ft_inits": [],
    "c_ft_init": "",
    "c_ft_name": "",
    "c_ft_steps": 100,
    "c_ft_recommended": True,  # advanced: the start's recommended recipe (no options sent; the two below show it)
    "c_ft_recipe_text": "",
    "c_ft_lr_scale": 1.0,  # advanced, unchecked: `--pretrained-lr-scale`
    "c_ft_freeze_steps": 0,  # advanced, unchecked: `--freeze-pretrained-steps`
    "c_ft_running": False,
    "c_ft_progress": 0,
    "c_ft_text": "",
    "c_loss_svg": "",
    "c_metrics_rows": [],
    "c_curve_svg": "",
    "c_has_metrics": False,
    "c_seg_filename": "segmentation.nii.gz",
    "c_qc_rows": [],
    "c_has_qc": False,
    "c_prop_method": DEFAULT_PROPAGATION,
    "c_can_undo": False,
}

SEGMENTS = tuple(labels.NAMES.values())  # the segments the editor paints
TOOLS = ("Paint", "Erase", "Scissors", "Islands")
