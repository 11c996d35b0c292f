"""Visual Deep-Learning Lab: a desktop lab where small models train on your data while you watch."""

__version__ = "0.1.0"
