"""The package version (one home, importable without loading the package's modules)."""

__version__ = "0.1.0"
