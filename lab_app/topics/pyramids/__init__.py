"""Pyramids & small objects: image vs feature pyramid (FPN, SNIP), and small faces with MTCNN.

Qt-free: every module but ``tab.py``, ``views.py``, ``*_views.py`` and ``*_panel.py``."""
