"""The rcdm version: a leaf module (imports nothing), so every module can read it without importing the package root."""

__version__ = "0.1.0"
