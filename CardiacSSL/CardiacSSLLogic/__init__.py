"""Slicer-side logic of the CardiacSSL module (MRML <-> Cine, segment, training set, fine-tune, metrics)."""
