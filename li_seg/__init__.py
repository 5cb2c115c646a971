"""li_seg: faithful TensorFlow 2 / Keras 3 reproductions of five segmentation papers (see README.md)."""

__version__ = "0.1.0"
