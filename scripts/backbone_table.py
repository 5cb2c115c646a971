"""python -m scripts.backbone_table [--names=resnet18,...] [--layouts=slim,torchvision,caffe] [--size=33,47]
    [--output_stride=32] [--stem=plain]

What each backbone is: its trainable parameters (torchvision's count without the 1000-way fc beside it, for the
ResNets: 11,176,512 / 21,284,672 / 23,508,032 / 42,500,160 / 58,143,808), and the size of every endpoint at an
input of --size in each layout, with the endpoint's stride. A quick answer to "what does block1 give me in the
caffe layout at 33 x 47?", and the record of the ResNet family (BUILD_NOTES.md section 12).
"""

from __future__ import annotations

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from li_seg.backbones import ENDPOINTS, build_backbone, endpoint_strides  # noqa: E402
from li_seg.config import BackboneConfig  # noqa: E402
from li_seg.layers.normalization import BatchNormSettings  # noqa: E402

FLAGS = flags.FLAGS
TORCHVISION_WITHOUT_FC = {"resnet18": 11_176_512, "resnet34": 21_284_672, "resnet50": 23_508_032,
                          "resnet101": 42_500_160, "resnet152": 58_143_808}


def backbone_row(config: BackboneConfig, size) -> dict:
    """{"params": trainable parameters, "sizes": {endpoint: (h, w)}, "strides": {endpoint: stride}}."""
    backbone = build_backbone(config, BatchNormSettings())
    outputs = backbone(np.zeros((1, *size, 3), np.float32))
    return {
        "params": int(sum(np.prod(v.shape) for v in backbone.trainable_variables)),
        "sizes": {name: tuple(int(d) for d in outputs[name].shape[1:3]) for name in ENDPOINTS},
        "strides": endpoint_strides(config),
    }


def main(argv) -> None:
    del argv
    size = tuple(int(v) for v in FLAGS.size) * (2 if len(FLAGS.size) == 1 else 1)
    print(f"input {size[0]}x{size[1]}, output stride {FLAGS.output_stride}, stem {FLAGS.stem}; "
          "each endpoint: height x width (stride)")
    print(f"{'backbone':<10} {'layout':<12} {'params':>11} {'torchvision':>11}  "
          + "  ".join(f"{name:<13}" for name in ENDPOINTS))
    for name in FLAGS.names:
        for layout in (FLAGS.layouts if name != "mobilenet_v2" else ["-"]):
            config = BackboneConfig(name=name, output_stride=FLAGS.output_stride)
            if name != "mobilenet_v2":
                config = BackboneConfig(name=name, layout=layout, stem=FLAGS.stem, output_stride=FLAGS.output_stride)
            row = backbone_row(config, size)
            reference = TORCHVISION_WITHOUT_FC.get(name)
            reference = "-" if reference is None or FLAGS.stem != "plain" else f"{reference:,}"
            cells = "  ".join(f"{'%dx%d (%d)' % (*row['sizes'][e], row['strides'][e]):<13}" for e in ENDPOINTS)
            print(f"{name:<10} {layout:<12} {row['params']:>11,} {reference:>11}  {cells}")


def define_flags() -> None:
    flags.DEFINE_list("names", list(TORCHVISION_WITHOUT_FC), "Backbones (BackboneConfig.name).")
    flags.DEFINE_list("layouts", ["slim", "torchvision", "caffe"], "ResNet layouts.")
    flags.DEFINE_list("size", ["33", "47"], "Input H,W (one value: square).")
    flags.DEFINE_integer("output_stride", 32, "Output stride.")
    flags.DEFINE_string("stem", "plain", "ResNet stem: plain (7x7) or beta (three 3x3 convs).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
