"""The app layer: the composition root that wires the engine to the store.

``runs`` (render, submit, resume: check -> record -> render -> deliver), ``registry`` (the
render kinds), ``store`` (one open store per home per process), ``delivery`` (``--out``),
``jobs`` (the dashboard's background workers) and ``cli`` (``python -m studio``). The CLI,
the dashboard (``ui``) and the Python API (``studio.render``) all render through ``runs``.
Nothing in the engine imports this package.
"""
