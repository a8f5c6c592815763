"""Carry a user's corrected frame(s) to the other phases of a cine.

:func:`CardiacSSLLib.propagation.propagate.propagate` registers phases slice by slice
(:mod:`.registration`, SimpleITK demons), warps the corrected labels and fuses them with the
model's own prediction (:mod:`.fusion`). Corrected frames are never changed; the result is a
new array, so keeping the old one is the undo.
"""
