"""The page: trame-slicer's viewer layout and segment editor, plus the CardiacSSL workflow panel.

Only layout here; every callback is a method of one of the app's panels. Element ids
(``id=...``) are stable: the end-to-end test uses them.
"""

from __future__ import annotations

from trame.widgets import client, html
from trame.widgets import vuetify3 as v3
from trame_slicer.app.ui import (
    ControlButton,
    SegmentEditorToolbarUI,
    SegmentEditorUI,
    SegmentEditorUndoRedoUI,
    ViewerLayout,
)

from CardiacSSLLib.segment_frames import FRAMES_ALL, FRAMES_CURRENT, FRAMES_EDES
from CardiacSSLWeb.editor_panel import EDITOR_TOOL
from CardiacSSLWeb.quality_panel import PROPAGATE_METHODS
from CardiacSSLWeb.state import SEGMENTS, TOOLS

# Long model names and start points wrap instead of being cut off (in the fields and their menus).
_WRAP_CSS = (
    ".v-select .v-select__selection-text { white-space: normal !important; overflow: visible !important; }"
    " .v-select .v-select__selection { max-width: 100%; }"
    " .v-overlay .v-list-item-title { white-space: normal !important; }"
)


def _section(title: str) -> None:
    html.Div(title, classes="text-subtitle-2 mt-3 mb-1 text-primary")


def _card_button(click, disabled: str, element_id: str) -> None:
    v3.VBtn(
        icon="mdi-card-text-outline",
        click=click,
        disabled=(disabled,),
        title="Model card",
        variant="text",
        density="compact",
        classes="ml-1",
        id=element_id,
    )


def _card_dialog() -> None:
    """The model card (Markdown source, shown as written) in a scrollable dialog."""
    with v3.VDialog(v_model=("c_card_open",), max_width=820, scrollable=True, id="card-dialog"):
        with v3.VCard():
            v3.VCardTitle("{{ c_card_title }}", id="card-title")
            with v3.VCardText(style="max-height: 70vh;"):
                html.Pre(
                    "{{ c_card_text }}",
                    style="white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px;",
                    id="card-text",
                )
            with v3.VCardActions():
                v3.VSpacer()
                v3.VBtn("Close", click="c_card_open = false", id="card-close")


def build_page(server, layout_manager, app) -> ViewerLayout:
    """Build and return the page; ``app`` holds the panels whose ``on_*`` methods the widgets call."""
    with ViewerLayout(server, title="CardiacSSL", theme="dark") as layout:
        layout.state.trame__title = "CardiacSSL"
        viewer = layout.typed_state.name
        with layout.drawer:
            editor_ui = SegmentEditorUI(v_if=(f"{viewer.active_tool} === '{EDITOR_TOOL}'",))
        layout.editor_ui = editor_ui
        with layout.toolbar:
            ControlButton(
                icon="mdi-brush",
                name="Segment editor",
                click=app.editor.on_toggle_editor,
                disabled=("!c_segmented",),
                classes="mt-1",
            )
            SegmentEditorToolbarUI(editor_ui=editor_ui)
        with layout.undo_redo:
            SegmentEditorUndoRedoUI(editor_ui=editor_ui)
        with layout.content:
            layout_manager.initialize_layout_grid(layout)
        with layout, v3.VNavigationDrawer(location="right", permanent=True, width=420), html.Div(classes="pa-3"):
            client.Style(_WRAP_CSS)
            _panel(app)
            _card_dialog()
    return layout


def _panel(app) -> None:
    """The right-hand panel: status line, then one section per step of the workflow."""
    _status(app)
    _cine_section(app)
    _segment_section(app)
    _correct_section(app)
    _training_set_section(app)
    _finetune_section(app)
    _metrics_section(app)
    _quality_section(app)
    _download_section(app)


def _status(app) -> None:
    """Busy bar with Stop, and the message line."""
    v3.VProgressLinear(v_if=("c_busy",), indeterminate=True, color="primary", id="busy")
    with html.Div(v_if=("c_busy",), classes="d-flex align-center"):
        html.Div("{{ c_busy_text }}", classes="text-caption", id="busy-text")
        v3.VSpacer()
        v3.VBtn("Stop", v_if=("c_can_stop",), click=app.on_stop, size="x-small", id="stop-btn")
    v3.VAlert(
        v_if=("c_message",),
        text=("c_message",),
        type=("c_message_type",),
        density="compact",
        closable=True,
        classes="my-2 text-body-2",
        style="overflow-wrap: anywhere;",
        id="message",
        click_close="c_message = ''",
    )


def _cine_section(app) -> None:
    _section("1. Cine")
    with html.Div(classes="d-flex align-center"):
        v3.VTextField(v_model=("c_data_dir",), label="Data folder", density="compact", hide_details=True, id="data-dir")
        v3.VBtn("List", click=app.cine.on_list, disabled=("c_busy",), classes="ml-2", id="list-btn")
    with v3.VList(density="compact", max_height=160, classes="overflow-y-auto", id="cine-list"):
        v3.VListItem(
            v_for="item in c_cines",
            key="item.value",
            title=("item.title",),
            active=("item.value === c_cine",),
            click="c_cine = item.value",
            classes="cine-item",
        )
    v3.VBtn("Load", click=app.cine.on_load, disabled=("c_busy || !c_cine",), block=True, id="load-btn")
    with html.Div(v_if=("c_loaded",), classes="mt-2"):
        html.Div("{{ c_cine_name }}: {{ c_frame_text }}", classes="text-caption", id="frame-text")
        with html.Div(id="frame-slider"):
            v3.VSlider(
                v_model_number=("c_frame",),
                min=0,
                max=("c_n_frames - 1",),
                step=1,
                hide_details=True,
                density="compact",
            )


def _segment_section(app) -> None:
    _section("2. Segment")
    with html.Div(classes="d-flex align-center"):
        v3.VSelect(
            v_model=("c_model",), items=("c_models",), label="Model", density="compact", hide_details=True, id="model"
        )
        _card_button(app.cards.on_model_card, "c_busy || !c_model", "model-card-btn")
    with v3.VBtnToggle(  # its own full-width row, so no label is cut off
        v_model=("c_frames_mode",), mandatory=True, density="compact", divided=True, classes="d-flex mt-1"
    ):
        v3.VBtn("all frames", value=FRAMES_ALL, classes="flex-grow-1", id="frames-all")
        v3.VBtn("ED + ES", value=FRAMES_EDES, classes="flex-grow-1", id="frames-edes")
        v3.VBtn("this frame", value=FRAMES_CURRENT, classes="flex-grow-1", id="frames-current")
    v3.VCheckbox(
        v_model=("c_replace",), label="replace earlier results", density="compact", hide_details=True, id="replace"
    )
    v3.VBtn("Segment", click=app.segment.on_segment, disabled=("c_busy || !c_loaded",), block=True, id="segment-btn")


def _correct_section(app) -> None:
    _section("3. Correct")
    with html.Div(v_if=("c_segmented",)):
        with v3.VBtnToggle(v_model=("c_active_segment",), mandatory=True, density="compact", divided=True):
            for name in SEGMENTS:
                v3.VBtn(name, value=name, id=f"segment-{name}")
        with v3.VBtnToggle(v_model=("c_active_tool",), density="compact", divided=True, classes="mt-1"):
            for tool in TOOLS:
                v3.VBtn(tool, value=tool, id=f"tool-{tool}")
        with html.Div(classes="mt-1"):
            v3.VBtn("Undo", click=app.editor.on_undo, size="small", id="undo-btn")
            v3.VBtn("Redo", click=app.editor.on_redo, size="small", classes="ml-1", id="redo-btn")
    html.Div("Segment first, then paint corrections in the view.", v_if=("!c_segmented",), classes="text-caption")


def _training_set_section(app) -> None:
    _section("4. Training set")
    v3.VBtn(
        "Add this frame",
        click=app.results.on_add_case,
        disabled=("c_busy || !c_segmented",),
        block=True,
        id="add-case-btn",
    )
    html.Div("{{ c_cases }} case(s) in the training set", classes="text-caption", id="cases-text")


def _finetune_section(app) -> None:
    _section("5. Fine-tune")
    with html.Div(classes="d-flex align-center mb-1"):
        v3.VSelect(
            v_model=("c_ft_init",),
            items=("c_ft_inits",),
            label="Start from",
            density="compact",
            hide_details=True,
            id="ft-init",
        )
        _card_button(app.cards.on_start_card, "c_busy", "ft-init-card-btn")
    with html.Div(classes="d-flex"):
        v3.VTextField(
            v_model=("c_ft_name",), label="New model name", density="compact", hide_details=True, id="ft-name"
        )
        v3.VTextField(
            v_model_number=("c_ft_steps",),
            label="Steps",
            type="number",
            density="compact",
            hide_details=True,
            style="max-width: 90px",
            classes="ml-2",
            id="ft-steps",
        )
    html.Div("Advanced (weights loaded from the start model or backbone):", classes="text-caption mt-1")
    v3.VCheckbox(
        v_model=("c_ft_recommended",),
        label="Recommended for this start",
        density="compact",
        hide_details=True,
        title="A pretrained backbone's recorded learning-rate factor and warm-up (the ones its card's few-shot "
        "numbers were measured with), else 1 and 0; the fields show them. Uncheck to set them yourself",
        id="ft-recommended",
    )
    html.Div("{{ c_ft_recipe_text }}", classes="text-caption", id="ft-recipe-text")
    with html.Div(classes="d-flex"):
        v3.VTextField(
            v_model_number=("c_ft_lr_scale",),
            label="Pretrained LR factor",
            type="number",
            step=0.1,
            min=0,
            max=10,
            density="compact",
            hide_details=True,
            disabled=("c_ft_recommended",),
            title="Learning-rate factor for the weights loaded from the start model or backbone (below 1 keeps them "
            "closer to what they learnt, 0 freezes them); 1: one learning rate for the whole network",
            id="ft-lr-scale",
        )
        v3.VTextField(
            v_model_number=("c_ft_freeze_steps",),
            label="Warm-up steps",
            type="number",
            min=0,
            density="compact",
            hide_details=True,
            classes="ml-2",
            disabled=("c_ft_recommended",),
            title="Train only the new layers (not loaded from the start model or backbone) for this many steps "
            "first, then everything; 0: no warm-up",
            id="ft-freeze-steps",
        )
    with html.Div(classes="d-flex mt-1"):
        v3.VBtn("Fine-tune", click=app.finetune.on_finetune, disabled=("c_ft_running || c_cases < 1",), id="ft-start")
        v3.VBtn("Cancel", click=app.finetune.on_cancel, disabled=("!c_ft_running",), classes="ml-2", id="ft-cancel")
    v3.VProgressLinear(model_value=("c_ft_progress",), height=8, classes="mt-2", color="primary", id="ft-progress")
    html.Div("{{ c_ft_text }}", classes="text-caption", id="ft-text")
    html.Div(v_html=("c_loss_svg",), id="loss-plot")


def _metrics_section(app) -> None:
    _section("6. Metrics")
    v3.VBtn(
        "Compute metrics",
        click=app.results.on_metrics,
        disabled=("c_busy || !c_segmented",),
        block=True,
        id="metrics-btn",
    )
    with html.Table(v_if=("c_has_metrics",), classes="text-body-2 mt-1", id="metrics-table"):
        with html.Tr(v_for="row in c_metrics_rows", key="row.name"):
            html.Td("{{ row.name }}", classes="pr-4")
            html.Td("{{ row.value }}", classes="pr-2 text-right")
            html.Td("{{ row.unit }}")
    html.Div(v_html=("c_curve_svg",), id="volume-curve")


def _quality_section(app) -> None:
    _section("7. Quality flags and propagation")
    with html.Div(classes="d-flex"):
        v3.VBtn("Check quality", click=app.quality.on_quality, disabled=("c_busy || !c_segmented",), id="qc-btn")
        v3.VBtn("Next to correct", click=app.quality.on_next, disabled=("!c_has_qc",), classes="ml-2", id="qc-next")
    with html.Table(v_if=("c_has_qc",), classes="text-body-2 mt-1", id="qc-table"):
        with html.Tr():
            for title in ("#", "frame", "slice", "score", "flags"):
                html.Th(title, classes="pr-2 text-left")
        with html.Tr(
            v_for="row in c_qc_rows.slice(0, 15)",
            key="row.rank",
            click=(app.quality.on_row, "[row.frame, row.slice]"),
            style="cursor: pointer;",
        ):
            for key in ("rank", "frame", "slice", "score", "flags"):
                html.Td(f"{{{{ row.{key} }}}}", classes="pr-2")
    v3.VSelect(
        label="Propagate by",
        v_model=("c_prop_method",),
        items=("c_prop_methods", list(PROPAGATE_METHODS)),
        density="compact",
        hide_details=True,
        classes="mt-2",
        id="prop-method",
    )
    with html.Div(classes="d-flex mt-1"):
        v3.VBtn(
            "Propagate correction",
            click=app.quality.on_propagate,
            disabled=("c_busy || !c_segmented",),
            id="prop-btn",
        )
        v3.VBtn("Undo", click=app.quality.on_undo, disabled=("c_busy || !c_can_undo",), classes="ml-2", id="prop-undo")
    html.Div(
        "Carries the frames you added to the training set (else the frame shown) to the other frames; "
        "those frames are never changed.",
        classes="text-caption",
    )


def _download_section(app) -> None:
    _section("8. Download")
    with html.Div(classes="d-flex"):
        v3.VBtn(
            "Segmentation",
            prepend_icon="mdi-download",
            disabled=("!c_segmented",),
            click=f"utils.download(c_seg_filename, trigger('{app.results.segmentation_trigger}'), 'application/gzip')",
            id="dl-seg",
        )
        v3.VBtn(
            "Metrics CSV",
            prepend_icon="mdi-download",
            disabled=("!c_has_metrics",),
            click=f"utils.download('metrics.csv', trigger('{app.results.csv_trigger}'), 'text/csv')",
            classes="ml-2",
            id="dl-csv",
        )
