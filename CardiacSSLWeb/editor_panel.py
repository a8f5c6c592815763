"""Panel 3: the corrections, through trame-slicer's segmentation editor (paint, erase, scissors, islands, undo)."""

from __future__ import annotations

from CardiacSSLWeb.page import Page
from CardiacSSLWeb.session import Session
from CardiacSSLWeb.state import SEGMENTS

EDITOR_TOOL = "SegmentEditorUI"  # trame-slicer's name for its editor panel in the left drawer


def _effects() -> dict:
    from trame_slicer.segmentation import (
        SegmentationEffectErase,
        SegmentationEffectIslands,
        SegmentationEffectPaint,
        SegmentationEffectScissors,
    )

    return {
        "Paint": SegmentationEffectPaint,
        "Erase": SegmentationEffectErase,
        "Scissors": SegmentationEffectScissors,
        "Islands": SegmentationEffectIslands,
    }


class EditorPanel:
    def __init__(self, page: Page, session: Session, slicer_app) -> None:
        self.page, self.session = page, session
        self.state = page.state
        self.editor = slicer_app.segmentation_editor
        self.viewer = None  # trame-slicer's ViewerLayout state (drawer), set by attach()

    def attach(self, layout) -> None:
        self.viewer = layout.typed_state.data

    def activate(self, segmentation_node) -> None:
        """Edit ``segmentation_node`` (the proxy of the segmentation sequence) on the cine's grid."""
        self.editor.deactivate_effect()
        self.editor.set_active_segmentation(segmentation_node, self.session.input_node)
        self.state.c_active_tool = ""
        self.on_active_segment(self.state.c_active_segment)

    def on_active_segment(self, c_active_segment="LV", **_) -> None:
        node = self.session.segmentation_node
        if node is None or c_active_segment not in SEGMENTS:
            return
        segment_id = node.GetSegmentation().GetSegmentIdBySegmentName(c_active_segment)
        if segment_id:
            self.editor.set_active_segment_id(segment_id)

    def on_tool(self, c_active_tool="", **_) -> None:
        if self.session.segmentation_node is None:
            return
        effect = _effects().get(c_active_tool or "")
        if effect is None:
            self.editor.deactivate_effect()
            return
        self.on_active_segment(self.state.c_active_segment)
        self.page.guarded("choosing a tool", self.editor.set_active_effect_type, effect)
        if c_active_tool in ("Scissors", "Islands"):  # their options live in the editor panel
            self.show_editor(True)

    def show_editor(self, visible: bool) -> None:
        if self.viewer is not None:
            self.viewer.is_drawer_visible = visible
            self.viewer.active_tool = EDITOR_TOOL if visible else None

    def on_toggle_editor(self) -> None:
        if self.viewer is not None:
            self.show_editor(not (self.viewer.is_drawer_visible and self.viewer.active_tool == EDITOR_TOOL))

    def on_undo(self) -> None:
        stack = self.editor.undo_stack
        if stack is not None and stack.can_undo():
            stack.undo()

    def on_redo(self) -> None:
        stack = self.editor.undo_stack
        if stack is not None and stack.can_redo():
            stack.redo()

    def forget_history(self) -> None:
        """Undo entries belong to the frame they were made on: drop them when the frame changes."""
        if self.editor.undo_stack is not None:
            self.editor.undo_stack.clear()
