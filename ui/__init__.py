"""Streamlit helpers shared by the entry point and the pages (the dashboard's composition root).

Nothing here renders a frame or runs SQL itself: it holds the shared resources, the sidebar,
and the widgets that several pages use, and hands work to ``studio`` and ``db``.
"""
