"""The package's version: one place, read by the package, the CLI's --version and the provenance every output carries."""
__version__ = "0.1.0"
