"""CardiacSSL in a web browser: the Slicer module's annotate-then-fine-tune loop on trame-slicer.

``cardiacssl web`` (CardiacSSLLib/cli/web.py) starts :func:`CardiacSSLWeb.app.serve`.
All loading, segmenting, training-set, fine-tuning and metrics work is done by the
Slicer module's GUI-free logic (``CardiacSSL/CardiacSSLLogic``) and CardiacSSLLib; this
package only adds the web page around it:

- ``paths``: makes ``CardiacSSLLogic`` importable (it ships inside the Slicer module folder),
- ``catalog``: lists the cines of a folder,
- ``session``: one loaded cine in the MRML scene and the workflow steps on it,
- ``jobs``: work off the page's event loop (inference thread, fine-tune process polling),
- ``plots``: SVG polylines for the loss and volume curves,
- ``state``: the page's state fields and the app configuration,
- ``ui``: the trame page, ``app``: wiring and the HTTP status endpoint.
"""
