"""One folder per tab: task.py (no Qt, the work) and tab.py (Qt, the drawing)."""
