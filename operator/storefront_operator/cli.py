"""`storefront-operator` console script."""

from .main import main

__all__ = ["main"]
