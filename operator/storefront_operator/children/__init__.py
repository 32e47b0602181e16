"""Pure builders: each takes the Storefront (and what the operator decided) and returns a manifest."""

from .common import desired_children, optional_children

__all__ = ["desired_children", "optional_children"]
