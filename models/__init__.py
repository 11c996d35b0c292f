"""Model families. PyTorch and numpy only: nothing in this package imports Qt."""
