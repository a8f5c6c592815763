"""CardiacSSL in a web browser: the Slicer module's annotate-then-fine-tune loop on trame-slicer.

``cardiacssl web`` (``cli``, a ``cardiacssl.commands`` entry point; also ``python -m
CardiacSSLWeb``) starts :func:`CardiacSSLWeb.app.serve`. All loading, segmenting,
training-set, fine-tuning and metrics work is done by the workflow layer the Slicer
module drives too (``CardiacSSLWorkflow``) and by CardiacSSLLib; this package only adds
the web page around it:

- ``cli``: the ``web`` subcommand (checks its options before anything heavy is imported),
- ``catalog``: lists the cines of a folder; ``plots``: SVG curves; ``state``: config and page state,
- ``session``: one loaded cine in the MRML scene and the workflow steps on it (no trame),
- ``jobs``: work off the page's event loop (worker threads, fine-tune process polling),
- ``page``: messages, busy flag, errors as messages; one ``*_panel`` module per panel of the page,
- ``ui``: the trame page; ``app``: wiring, the HTTP status endpoint, serving.
"""
