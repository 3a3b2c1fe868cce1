"""bnbench's version: a leaf that imports nothing, so the results layer can stamp it without the package root."""

__version__ = "0.1.0"
