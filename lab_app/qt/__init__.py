"""Qt glue shared by all tabs."""
