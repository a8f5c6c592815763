"""The file name endings the library reads: one list for the readers and every front end.

``load_cine`` detects formats with these; the web app's cine list, the Slicer module's file
dialog and the command-line help are made from them, so they cannot disagree. Plain
tuples: importing this reads no file and needs neither SimpleITK nor torch.
"""

from __future__ import annotations

import os
from pathlib import Path

NIFTI_SUFFIXES = (".nii", ".nii.gz")
NRRD_SUFFIXES = (".nrrd", ".nhdr")  # a Slicer sequence (.seq.nrrd) ends in .nrrd
METAIMAGE_SUFFIXES = (".mha", ".mhd")
VOLUME_SUFFIXES = NIFTI_SUFFIXES + NRRD_SUFFIXES + METAIMAGE_SUFFIXES  # 4D images (or 3D frames) SimpleITK reads
HDF5_SUFFIXES = (".h5", ".hdf5")  # SSL4MIS ACDC volumes
CINE_FILE_SUFFIXES = VOLUME_SUFFIXES + HDF5_SUFFIXES  # a file ``load_cine`` reads as a cine
DICOM_SUFFIXES = (".dcm", ".ima")  # images of a DICOM folder (a folder is read whatever its files' names)
SEG_NRRD_SUFFIX = ".seg.nrrd"  # a Slicer segmentation
# name endings (before the suffix) of label maps that sit beside image frames: ACDC _gt, M&Ms _sa_gt, ...
LABEL_STEM_ENDINGS = ("_gt", "_seg", "_label", "_labels", "_mask", "_segmentation")


def has_suffix(path: str | os.PathLike, suffixes: tuple[str, ...]) -> bool:
    """Whether the file name of ``path`` ends with one of ``suffixes`` (case-insensitive)."""
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in suffixes)


def is_label_file(path: str | os.PathLike) -> bool:
    """Whether the file is named as a label map (``patient001_frame01_gt.nii.gz``, ``x.seg.nrrd``)."""
    name = Path(path).name.lower()
    if name.endswith(SEG_NRRD_SUFFIX):
        return True
    stem = next((name[: -len(s)] for s in sorted(VOLUME_SUFFIXES, key=len, reverse=True) if name.endswith(s)), name)
    return stem.endswith(LABEL_STEM_ENDINGS) or stem == "segmentation"


def readable_files_text() -> str:
    """'.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, .h5, .hdf5' for messages and help texts."""
    return ", ".join(CINE_FILE_SUFFIXES)


def file_dialog_filter(title: str = "Cine") -> str:
    """A Qt file-dialog filter for every readable cine file, then all files."""
    return f"{title} ({' '.join('*' + s for s in CINE_FILE_SUFFIXES)});;All files (*)"
