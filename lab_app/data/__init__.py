"""Embedded datasets (no Qt, no download): procedural shapes and package-shipped data."""
