"""The segments' terminology entries exist in Slicer's own terminology files, read by Slicer's logic.

The files are the copies trame-slicer ships (trame_slicer/resources/terminologies), identical
in content to Modules/Loadable/Terminologies/Resources/*.json of Slicer v5.10.0 and v5.12.3.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")

from CardiacSSLLib import labels  # noqa: E402
from CardiacSSLWorkflow import mrml_convert  # noqa: E402
from CardiacSSLWorkflow.mrml_convert import terminology  # noqa: E402


@pytest.fixture(scope="module")
def slicer_terminologies():
    spec = importlib.util.find_spec("trame_slicer")
    if spec is None:
        pytest.skip("trame-slicer (which ships Slicer's terminology files) is not installed")
    folder = Path(spec.origin).parent / "resources" / "terminologies"
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    context = logic.LoadTerminologyFromFile(str(folder / "SegmentationCategoryTypeModifier-DICOM-Master.term.json"))
    regions = logic.LoadRegionContextFromFile(str(folder / "AnatomicRegionAndModifier-DICOM-Master.term.json"))
    assert (context, regions) == (terminology.CONTEXT, terminology.REGION_CONTEXT)
    return logic


def _codes_in_category(logic, category_code: tuple[str, str, str]) -> set[tuple[str, str]]:
    category = slicer.vtkSlicerTerminologyCategory()
    for i in range(logic.GetNumberOfCategoriesInTerminology(terminology.CONTEXT)):
        logic.GetNthCategoryInTerminology(terminology.CONTEXT, i, category)
        if (category.GetCodingSchemeDesignator(), category.GetCodeValue()) == category_code[:2]:
            break
    else:
        return set()
    codes, typ = set(), slicer.vtkSlicerTerminologyType()
    for i in range(logic.GetNumberOfTypesInTerminologyCategory(terminology.CONTEXT, category)):
        logic.GetNthTypeInTerminologyCategory(terminology.CONTEXT, category, i, typ)
        codes.add((typ.GetCodingSchemeDesignator(), typ.GetCodeValue()))
    return codes


def _region_codes(logic) -> set[tuple[str, str]]:
    codes, region = set(), slicer.vtkSlicerTerminologyType()
    for i in range(logic.GetNumberOfRegionsInRegionContext(terminology.REGION_CONTEXT)):
        logic.GetNthRegionInRegionContext(terminology.REGION_CONTEXT, i, region)
        codes.add((region.GetCodingSchemeDesignator(), region.GetCodeValue()))
    return codes


def test_every_entry_is_in_slicers_lists(slicer_terminologies):
    regions = _region_codes(slicer_terminologies)
    for value, entry in terminology.ENTRIES.items():
        assert entry.type[:2] in _codes_in_category(slicer_terminologies, entry.category), labels.NAMES[value]
        assert entry.region == terminology.NO_CODE or entry.region[:2] in regions, labels.NAMES[value]
    old = {labels.SNOMED[v][:2] for v in labels.NAMES}
    known = _codes_in_category(slicer_terminologies, terminology.ANATOMICAL_STRUCTURE)
    assert not old & known  # why the entries changed: the older codes are in no Slicer list


def test_entries_round_trip_and_older_results_are_still_read():
    for value in labels.NAMES:
        assert terminology.label_of_terminology(terminology.terminology_string(value)) == value
    cine_geometry = mrml_convert.geometry_from_ijk_to_ras(np.eye(4))
    label = np.zeros((2, 8, 8), np.uint8)
    label[0, 2:4, 2:4], label[0, 4:6, 4:6], label[1, 1:3, 5:7] = 1, 2, 3
    scene = slicer.vtkMRMLScene()
    node = mrml_convert.new_segmentation_node(scene, "s", label, cine_geometry)
    segmentation = node.GetSegmentation()
    for value, name in labels.NAMES.items():  # an older result: the previous codes and other names
        segment = segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName(name))
        scheme, code, meaning = labels.SNOMED[value]
        old = terminology.terminology_string(value).split("~")
        old[2] = f"{scheme}^{code}^{meaning}"
        segment.SetTerminology("~".join(old))
        segment.SetName(f"structure {value}")
    np.testing.assert_array_equal(mrml_convert.label_from_segmentation(node, cine_geometry, label.shape), label)
