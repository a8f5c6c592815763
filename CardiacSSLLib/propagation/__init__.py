"""Carry a user's corrected frame(s) to the other phases of a cine.

:func:`CardiacSSLLib.propagation.methods.propagate_cine` is the one entry point: ``calibrate``
(:mod:`.calibrate`, the default) re-segments the other phases with the model weighed to agree
with the correction; ``fused`` and ``registration`` (:mod:`.propagate`) register phases slice by
slice (:mod:`.registration`, SimpleITK demons), warp the corrected labels and fuse them with the
model's own prediction (:mod:`.fusion`); ``adapt`` (:mod:`.adapt`) fine-tunes a copy of the model.
Corrected frames are never changed; the result is a new array, so keeping the old one is the undo.
"""
