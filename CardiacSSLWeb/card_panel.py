"""The model card dialog: the card of the model selected for segmenting, or of what fine-tuning starts from."""

from __future__ import annotations

from pathlib import Path

from CardiacSSLWeb.page import Page


class CardPanel:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.state = page.state

    def show(self, name: str | None) -> None:
        """Open the dialog on ``name``'s card (a registry name or checkpoint path); a failure is a message."""
        from CardiacSSLWorkflow.model_card import model_card

        text = self.page.guarded("showing the model card", model_card, name)
        if text is not None:
            self.state.update(
                {"c_card_title": f"Model card: {Path(str(name)).name}", "c_card_text": text, "c_card_open": True}
            )

    def on_model_card(self) -> None:
        self.show(self.state.c_model)

    def on_start_card(self) -> None:
        """The card of the "Start from" choice: the selected model or a backbone; scratch has none."""
        from CardiacSSLWorkflow.finetune_logic import START_SCRATCH, init_for

        if self.state.c_ft_init == START_SCRATCH:
            self.page.message("scratch: random initialisation, no pretrained weights and no card", "info")
            return
        init = self.page.guarded("showing the model card", init_for, self.state.c_ft_init, self.state.c_model)
        if init is not None:
            self.show(init)
