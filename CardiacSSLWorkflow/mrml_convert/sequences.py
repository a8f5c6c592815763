"""A whole ``Cine`` <-> a sequence of scalar volumes with its browser (how Slicer shows a 4D cine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import slicer

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.mrml_convert.volumes import set_volume_from_array, volume_array, volume_geometry

TIME_INDEX_NAME = "time"
FRAME_INDEX_NAME = "frame"


@dataclass
class SequenceNodes:
    """A sequence, the browser that plays it, and the proxy node shown in the views."""

    sequence: object  # vtkMRMLSequenceNode
    browser: object  # vtkMRMLSequenceBrowserNode
    proxy: object  # vtkMRMLScalarVolumeNode / vtkMRMLSegmentationNode


def _index_values(cine: Cine) -> tuple[str, str, list[str]]:
    if cine.trigger_times_ms is not None:
        return TIME_INDEX_NAME, "ms", [f"{float(t):.10g}" for t in cine.trigger_times_ms]
    return FRAME_INDEX_NAME, "", [str(t) for t in range(cine.n_frames)]


def sequences_logic(scene):
    """Slicer's Sequences logic when running in Slicer, else a new one bound to ``scene``.

    A bare ``vtkMRMLScene`` (slicer-core) knows no sequence node classes until a
    Sequences logic registers them, which binding the logic to the scene does.
    """
    modules = getattr(slicer, "modules", None)
    if modules is not None and hasattr(modules, "sequences") and scene is getattr(slicer, "mrmlScene", None):
        return modules.sequences.logic()
    logic = getattr(scene, "_cardiacSSLSequencesLogic", None)
    if logic is None:
        logic = slicer.vtkSlicerSequencesLogic()
        logic.SetMRMLScene(scene)
        scene._cardiacSSLSequencesLogic = logic  # one logic per bare scene, alive as long as the scene
    return logic


def ensure_sequence_classes(scene) -> None:
    if not scene.IsNodeClassRegistered("vtkMRMLSequenceBrowserNode"):
        sequences_logic(scene)


def new_browser(scene, sequence_node, name: str):
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", name)
    browser.SetAndObserveMasterSequenceNodeID(sequence_node.GetID())
    browser.SetSelectedItemNumber(0)
    sequences_logic(scene).UpdateProxyNodesFromSequences(browser)
    return browser


def cine_to_sequence(cine: Cine, scene, name: str | None = None) -> SequenceNodes:
    """A cine as a sequence of scalar volumes + a browser (how Slicer shows a 4D cine)."""
    name = name or cine.name or "cine"
    ensure_sequence_classes(scene)
    index_name, unit, values = _index_values(cine)
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", f"{name} sequence")
    sequence.SetIndexName(index_name)
    sequence.SetIndexUnit(unit)
    sequence.SetIndexType(sequence.NumericIndex)
    sequence.SetAttribute("CardiacSSL.source", cine.source)
    frame_node = slicer.vtkMRMLScalarVolumeNode()
    for t, value in enumerate(values):
        set_volume_from_array(frame_node, cine.image[t], cine.geometry)
        frame_node.SetName(f"{name} {index_name}={value}")
        sequence.SetDataNodeAtValue(frame_node, value)
    browser = new_browser(scene, sequence, f"{name} browser")
    proxy = browser.GetProxyNode(sequence)
    proxy.SetName(name)
    proxy.CreateDefaultDisplayNodes()
    return SequenceNodes(sequence, browser, proxy)


def browser_for_node(node):
    """The sequence browser whose proxy (or sequence) ``node`` is, or None."""
    scene = node.GetScene()
    if scene is None:
        return None
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        browser = scene.GetNthNodeByClass(i, "vtkMRMLSequenceBrowserNode")
        if browser.IsProxyNodeID(node.GetID()) or browser.IsSynchronizedSequenceNodeID(node.GetID()):
            return browser
    return None


def sequence_of(node):
    """``(sequence, browser)`` for a sequence, a browser or a proxy volume; ``(None, None)`` for a plain volume."""
    if node.IsA("vtkMRMLSequenceBrowserNode"):
        return node.GetMasterSequenceNode(), node
    if node.IsA("vtkMRMLSequenceNode"):
        return node, browser_for_node(node)
    browser = browser_for_node(node)
    if browser is not None:
        return browser.GetSequenceNode(node), browser
    return None, None


def sequence_to_cine(sequence_node, name: str | None = None) -> Cine:
    """A sequence of scalar volumes as a cine; all frames must share shape and geometry."""
    n = sequence_node.GetNumberOfDataNodes()
    if n == 0:
        raise InputError(f"sequence {sequence_node.GetName()!r} is empty")
    frames, geometry = [], None
    for t in range(n):
        item = sequence_node.GetNthDataNode(t)
        if not item.IsA("vtkMRMLScalarVolumeNode") or item.IsA("vtkMRMLLabelMapVolumeNode"):
            raise InputError(
                f"sequence {sequence_node.GetName()!r} holds {item.GetClassName()} items, not grey-level volumes"
            )
        g = volume_geometry(item)
        if geometry is None:
            geometry = g
        elif not geometry.isclose(g):
            raise InputError(f"frame {t} of sequence {sequence_node.GetName()!r} has a different geometry")
        frames.append(volume_array(item))
    if len({f.shape for f in frames}) != 1:
        raise InputError(f"frames of sequence {sequence_node.GetName()!r} differ in size")
    trigger = None
    if sequence_node.GetIndexName().lower() == TIME_INDEX_NAME:
        scale = {"s": 1000.0, "sec": 1000.0, "second": 1000.0, "seconds": 1000.0}.get(
            sequence_node.GetIndexUnit().strip().lower(), 1.0
        )
        try:
            trigger = np.array([float(sequence_node.GetNthIndexValue(t)) * scale for t in range(n)])
        except ValueError:
            trigger = None
    return Cine(
        image=np.stack(frames).astype(np.float32),
        geometry=geometry,
        trigger_times_ms=trigger,
        source=sequence_node.GetAttribute("CardiacSSL.source") or f"mrml:{sequence_node.GetID()}",
        name=name or sequence_node.GetName(),
    )


def node_to_cine(node) -> Cine:
    """A cine from a scalar volume (a proxy of a sequence gives the whole sequence), a sequence or a browser."""
    if node is None:
        raise InputError("no input selected: load a cine, or pick a cine sequence or a volume")
    sequence, _ = sequence_of(node)
    if sequence is not None:
        return sequence_to_cine(sequence, name=node.GetName())
    if not node.IsA("vtkMRMLScalarVolumeNode") or node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise InputError(f"{node.GetName()!r} ({node.GetClassName()}) is not a grey-level volume or a sequence")
    return Cine(
        image=volume_array(node)[None].astype(np.float32),
        geometry=volume_geometry(node),
        source=f"mrml:{node.GetID()}",
        name=node.GetName(),
    )


def index_values_of(node) -> list[str] | None:
    """Index values of the sequence behind ``node`` (None for a plain volume)."""
    sequence, _ = sequence_of(node)
    if sequence is None:
        return None
    return [sequence.GetNthIndexValue(t) for t in range(sequence.GetNumberOfDataNodes())]
