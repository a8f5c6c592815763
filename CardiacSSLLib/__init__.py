"""CardiacSSLLib: self-supervised U-Nets for cardiac short-axis cine MRI.

Headless: no slicer, qt or vtk imports anywhere in this package. Heavy modules
(torch, monai, SimpleITK) are imported by the submodules that need them.
"""

__version__ = "0.1.0"
