"""Quality flags per slice and frame: low confidence, impossible anatomy, impossible volume curve.

:func:`CardiacSSLLib.quality.score.quality_table` combines them into one score per slice and a
"correct this next" ranking; :mod:`.report` writes it as ``qc.csv``. torch is needed only for
the confidence flag (:mod:`.confidence`, which runs the model).
"""
