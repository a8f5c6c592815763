"""Evaluation: segmentation scores, clinical volumes / EF / mass, volume-curve plots.

Submodules import their heavy dependencies (torch, MONAI, matplotlib) themselves; import
them directly, e.g. ``from CardiacSSLLib.metrics.clinical import clinical_metrics``.
"""
