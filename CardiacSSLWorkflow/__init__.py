"""The GUI-free workflow both front ends drive: MRML <-> cine, segment, training set, fine-tune, metrics.

The Slicer module's panel (``CardiacSSL/CardiacSSLPanel``) and the web app (``CardiacSSLWeb``)
call the same functions here; errors are raised, never shown. MRML-level (needs ``slicer``:
Slicer itself or slicer-core) and torch-free at import: learning and predicting is
``CardiacSSLLib``'s, imported where a step needs it.
"""
