"""The datasets, one module each: where the files are, how labels map to class ids, the split rule, and the
papers' split sizes, as a `li_seg.data.spec.DatasetSpec` (registered in `li_seg.data.registry`). `palettes` and
`matlab` are helpers some of them share (VOC's colour map, MATLAB .mat label files)."""
