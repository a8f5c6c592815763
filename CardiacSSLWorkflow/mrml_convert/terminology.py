"""The terminology entry of each canonical label: codes that Slicer's own terminology files hold.

Slicer 5.10's terminologies (Modules/Loadable/Terminologies/Resources/
SegmentationCategoryTypeModifier-DICOM-Master.json and AnatomicRegionAndModifier-DICOM-Master.json)
have "Left ventricle" and "Right ventricle" (Anatomical Structure) but no myocardium, so the
myocardium is "Muscle" (Tissue) in the region "Left Ventricle". With these entries Slicer finds
each segment in its lists (names, colours, the terminology selector). Older results used SNOMED
codes that are in no Slicer list (``labels.SNOMED``); they are still recognised when read back.
"""

from __future__ import annotations

from dataclasses import dataclass

import slicer

from CardiacSSLLib import labels

CONTEXT = "Segmentation category and type - DICOM master list"
REGION_CONTEXT = "Anatomic codes - DICOM master list"
ANATOMICAL_STRUCTURE = ("SCT", "123037004", "Anatomical Structure")
TISSUE = ("SCT", "85756007", "Tissue")
LEFT_VENTRICLE_REGION = ("SCT", "87878005", "Left Ventricle")
NO_CODE = ("", "", "")


@dataclass(frozen=True)
class Entry:
    category: tuple[str, str, str]  # (coding scheme, code value, code meaning)
    type: tuple[str, str, str]
    region: tuple[str, str, str] = NO_CODE


ENTRIES = {
    labels.LV: Entry(ANATOMICAL_STRUCTURE, ("SCT", "87878005", "Left ventricle")),  # the blood pool
    labels.MYO: Entry(TISSUE, ("SCT", "71616004", "Muscle"), LEFT_VENTRICLE_REGION),
    labels.RV: Entry(ANATOMICAL_STRUCTURE, ("SCT", "53085002", "Right ventricle")),
}


def _set(coded, code: tuple[str, str, str]) -> None:
    coded.SetCodingSchemeDesignator(code[0])
    coded.SetCodeValue(code[1])
    coded.SetCodeMeaning(code[2])


def terminology_string(value: int) -> str:
    """The serialized terminology entry (``vtkSegment::SetTerminology``) of a canonical label."""
    entry = ENTRIES[value]
    term = slicer.vtkSlicerTerminologyEntry()
    term.SetTerminologyContextName(CONTEXT)
    _set(term.GetCategoryObject(), entry.category)
    _set(term.GetTypeObject(), entry.type)
    if entry.region != NO_CODE:
        term.SetRegionContextName(REGION_CONTEXT)
        _set(term.GetRegionObject(), entry.region)
    return slicer.vtkSlicerTerminologiesModuleLogic.SerializeTerminologyEntry(term)


def label_of_terminology(serialized: str) -> int | None:
    """The canonical label a serialized entry names (these entries, or the older codes), else None."""
    term = slicer.vtkSlicerTerminologyEntry()
    if not slicer.vtkSlicerTerminologiesModuleLogic.DeserializeTerminologyEntry(serialized, term):
        return None
    typ, region = term.GetTypeObject(), term.GetRegionObject()
    found = ((typ.GetCodingSchemeDesignator() or "", typ.GetCodeValue() or ""),
             (region.GetCodingSchemeDesignator() or "", region.GetCodeValue() or ""))  # fmt: skip
    for value, entry in ENTRIES.items():
        if found == (entry.type[:2], entry.region[:2]):
            return value
    for value, (scheme, code, _) in labels.SNOMED.items():
        if found[0] == (scheme, code):
            return value
    return None
