"""Export: a SavedModel with a uint8-images serving signature."""

from li_seg.export.saved_model import export_saved_model

__all__ = ["export_saved_model"]
