"""The clinical summary as rows (key, label, unit): the order and names every front end shows.

The Slicer table, the web page's table and ``cardiacssl segment`` print these rows of
``ClinicalResult.summary()``; Testing/test_catalogs.py checks each key exists there.
"""

from __future__ import annotations

from typing import NamedTuple


class SummaryRow(NamedTuple):
    key: str  # key of ClinicalResult.summary()
    label: str
    unit: str


SUMMARY_ROWS: tuple[SummaryRow, ...] = (
    SummaryRow("lv_edv_ml", "LV EDV", "ml"),
    SummaryRow("lv_esv_ml", "LV ESV", "ml"),
    SummaryRow("lv_sv_ml", "LV SV", "ml"),
    SummaryRow("lv_ef_percent", "LV EF", "%"),
    SummaryRow("rv_edv_ml", "RV EDV", "ml"),
    SummaryRow("rv_esv_ml", "RV ESV", "ml"),
    SummaryRow("rv_sv_ml", "RV SV", "ml"),
    SummaryRow("rv_ef_percent", "RV EF", "%"),
    SummaryRow("lv_mass_ed_g", "LV mass (ED)", "g"),
    SummaryRow("ed_frame", "ED frame", ""),
    SummaryRow("es_frame", "ES frame", ""),
)
FRAME_KEYS = ("ed_frame", "es_frame")  # frame numbers, not measurements
