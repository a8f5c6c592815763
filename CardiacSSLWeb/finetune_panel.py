"""Panel 5: fine-tune on the training set in a separate process: start point, progress, loss plot, Cancel."""

from __future__ import annotations

import asyncio
import time

from CardiacSSLWeb import plots
from CardiacSSLWeb.jobs import FinetuneProgress, watch_runner
from CardiacSSLWeb.page import Page
from CardiacSSLWeb.session import Session
from CardiacSSLWeb.state import WebConfig


class FinetunePanel:
    def __init__(self, page: Page, session: Session, config: WebConfig, on_new_model) -> None:
        self.page, self.session, self.config = page, session, config
        self.state = page.state
        self.on_new_model = on_new_model  # called with the new model's registry name
        self.progress = FinetuneProgress()
        self.job = None
        self._watch: asyncio.Task | None = None
        session.finetune.runner.progress.connect(self._on_event)

    def refresh_inits(self) -> None:
        """The "Start from" list (selected model, backbones, scratch) of the module's logic; keep the choice."""
        from CardiacSSLWorkflow.finetune_logic import START_SELECTED, list_start_points

        choices = self.page.guarded("listing the start points", list_start_points) or []
        items = [{"title": c.label, "value": c.value} for c in choices]
        current = self.state.c_ft_init
        if current not in [i["value"] for i in items]:
            current = START_SELECTED
        self.state.update({"c_ft_inits": items, "c_ft_init": current})
        self.show_recipe()

    def show_recipe(self, **_) -> None:
        """While "Recommended for this start" is checked, the LR-factor and warm-up fields show the
        start's recipe (state change of the start or the checkbox); unchecked, they keep the user's values."""
        from CardiacSSLWorkflow.finetune_logic import recommended_recipe

        if not self.state.c_ft_recommended:
            self.state.c_ft_recipe_text = "values set by hand"
            return
        recipe = self.page.guarded("reading the start's recipe", recommended_recipe, self.state.c_ft_init)
        if recipe is not None:
            self.state.update(
                {
                    "c_ft_lr_scale": recipe.pretrained_lr_scale,
                    "c_ft_freeze_steps": recipe.freeze_pretrained_steps,
                    "c_ft_recipe_text": f"recipe: {recipe.source}",
                }
            )

    def on_finetune(self) -> None:
        """Start the worker process; returns at once (the run is watched by a task)."""
        from CardiacSSLWorkflow.finetune_logic import describe_init, transfer_options

        if self.session.finetune.runner.is_running():
            self.page.message("a fine-tuning run is already in progress", "warning")
            return
        state = self.state
        advanced = self.page.guarded(
            "reading the advanced options",
            lambda: transfer_options(
                state.c_ft_lr_scale, state.c_ft_freeze_steps, recommended=bool(state.c_ft_recommended)
            ),
        )  # none when recommended (the worker applies the start's recipe); else after --finetune-args, so they win
        if advanced is None:
            return
        name = (self.state.c_ft_name or "").strip() or time.strftime("web-%Y%m%d-%H%M%S")
        try:
            steps = int(self.state.c_ft_steps)
        except (TypeError, ValueError):
            steps = 0
        self.progress = FinetuneProgress(total=max(steps, 0))
        job = self.page.guarded(
            "starting fine-tuning",
            self.session.start_finetune,
            self.state.c_model,
            name,
            steps,
            self.state.c_device,
            [*self.config.finetune_args, *advanced],
            self.state.c_ft_init,
        )
        if job is None:
            return
        self.job = job
        self.state.update(
            {
                "c_ft_running": True,
                "c_ft_progress": 0,
                "c_ft_text": f"fine-tuning {job.name} from {describe_init(job.init)}: starting",
                "c_loss_svg": "",
                "c_ft_name": "",
            }
        )
        self._watch = asyncio.ensure_future(watch_runner(self.session.finetune.runner, self._update, self._finished))

    def on_cancel(self) -> None:
        if self.session.finetune.runner.is_running():
            self.session.finetune.cancel()
            self.state.c_ft_text = "cancelling..."

    def _on_event(self, event: dict) -> None:
        self.progress.on_event(event)

    def _update(self) -> None:
        p = self.progress
        if not p.step:
            return
        text = f"step {p.step}/{p.total}"
        if "loss" in p.last:
            text += f", loss {float(p.last['loss']):.4f}"
        if p.last.get("eta_s") is not None:
            text += f", {float(p.last['eta_s']):.0f} s left"
        with self.state:
            self.state.c_ft_progress = p.percent
            self.state.c_ft_text = text
            self.state.c_loss_svg = plots.svg_plot(
                [("loss", p.steps, p.losses, "#ffb74d")], "step", "loss", from_zero=False
            )

    def _finished(self, result) -> None:
        from CardiacSSLWorkflow.finetune_logic import FinetuneLogic

        summary = FinetuneLogic.summary(result)
        kind = "success" if result.ok else ("info" if result.state.value == "cancelled" else "error")
        with self.state:
            self.state.c_ft_running = False
            self.state.c_ft_text = summary
            if result.ok:
                self.state.c_ft_progress = 100
                self.on_new_model(self.job.name)
                summary += f" Model {self.job.name!r} is selected for segmentation."
            self.page.message(summary, kind)
