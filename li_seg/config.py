"""The library's configuration: frozen dataclasses, read by model, data and training code.

`experiments.config.ExperimentConfig` bundles one of each (model, data, train, eval); the library only ever
receives the part it needs (`build_model(cfg.model, ...)`, `build_dataset(cfg.data, ...)`). Every field has a
default that works on the embedded synthetic dataset; the papers' recipes live in `experiments/papers/`.

Tuples, not lists, so that configs stay hashable and comparable; JSON round-trips them as lists and
`experiments.config` converts them back.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


def choice_errors(key: str, value, valid) -> list[str]:
    """[] when `value` is one of `valid`, else the one error every config check words the same way."""
    return [] if value in valid else [f"{key}={value!r} is not one of {', '.join(map(repr, valid))}"]


@dataclasses.dataclass(frozen=True)
class InhibitionConfig:
    """Lateral inhibition in front of dilated convs (LI-Convs paper; `li_seg.layers.inhibition`).

    kind: "li" (the LateralInhibition layer, Eq. 3-5) or "rd" (Table V: a regular trainable 3x3 depthwise conv).
    zone_size, sigma, rate, intensity_init: LateralInhibition's zone side, Gaussian sigma (undilated units), LI
      rate e and uniform initialisation range of W_L (paper defaults 3, 1.0, 1, (0, 0); ignored by "rd").
    """

    kind: str = "li"
    zone_size: int = 3
    sigma: float = 1.0
    rate: int = 1
    intensity_init: tuple[float, float] = (0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class SmoothingConfig:
    """Smoothing of a ResNet's dilated 3x3 convs ("Efficient Smoothing of Dilated Convolutions", Ziegler et al.,
    and Wang & Ji's baselines; `li_seg.layers.smoothing`).

    kind: "average" / "gaussian" (fixed pre-filters, no weights), "ss_conv" (one (2r-1)^2 filter per layer shared
      by the channels), "g_interact" (r^2 x r^2 sub-grid mixing after the conv), "aggregated" (learned convex
      combination of average, Gaussian, SS Conv and identity).
    size_rule: pre-filter size s from the rate r: "paper" (s = r) or "code" (the released code: s = r - 1).
    sigma / gaussian_variant: the Gaussian's sigma (paper 1.0) and formula ("paper", or "code": the released
      formula, in which sigma cancels: effective sigma 1/sqrt(2)).
    trainable_average: the released code's Average: a trainable per-channel filter initialised to 1/s^2.
    coefficients: "aggregated" only: "convex" (the paper: a >= 0, sum 1, as the softmax of 4 logits; one set for
      the whole model, as in its Fig. 5) or "code" (one unconstrained 4-vector initialised to 0.25).
    g_interact_variant: "paper" (the full mixing) or "code" (the authors' loop, which reads l[i] for l[0]).
    """

    kind: str = "gaussian"
    size_rule: str = "paper"
    sigma: float = 1.0
    gaussian_variant: str = "paper"
    trainable_average: bool = False
    coefficients: str = "convex"
    g_interact_variant: str = "paper"


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
    """A feature extractor of `li_seg.backbones`: every stage by name (README "Models").

    name: "mobilenet_v2" (width 1.0, up to RB17's 320-channel projection), "resnet18" / "resnet34" (basic
      blocks), "resnet50" / "resnet101" / "resnet152" (bottlenecks); ResNets are v1.
    output_stride: 8, 16 or 32, reached by replacing strides with dilation.
    multi_grid: ResNet only: per-unit rate multipliers of the last block (one per unit, e.g. (1, 2, 4)); None = 1.
    layout: ResNet only, where the strides sit and how a dilated block is dilated (`li_seg.backbones.resnet_plan`):
      "slim" (research/deeplab, TF-slim: the stride in the *last* unit of blocks 1-3, on the 3x3 conv; LI-Convs,
      smoothing), "torchvision" (ResNet v1.5: the stride in the *first* unit of blocks 2-4, on the 3x3 conv; the
      first unit of a dilated block keeps the previous rate; PAN, CycleNet) or "caffe" (the original ResNet and
      DeepLabv2: the stride on the first 1x1 conv of the first unit, max-pool in ceil mode, every unit of a
      dilated block at its rate; DifNet's released code).
    first_unit_dilated: ResNet only: whether the first unit of a block dilated for the output stride (the unit
      whose stride became dilation) runs at the block's rate (True: every unit of res5 at rate 2 at OS 16) or
      keeps the previous rate (False: res5 (1, 2, 2), torchvision's `replace_stride_with_dilation`). None = the
      layout's rule (caffe True, torchvision and slim False); set only with the torchvision or caffe layout.
    stem: ResNet only: "beta" (three 3x3 convs of `stem_widths`, the first with stride 2: research/deeplab's
      resnet_v1_beta, PSPNet, mmsegmentation's ResNetV1c) or "plain" (one 7x7 conv, 64 channels).
    stem_widths: the "beta" stem's three widths: (64, 64, 128) research/deeplab and PyTorch-Encoding, (32, 32, 64)
      mmsegmentation's ResNetV1c.
    normalization: how the RGB input in [0, 255] is normalised inside the backbone, which must match the
      pretrained weights: "unit_range" (x / 127.5 - 1: keras.applications MobileNetV2), "mean_rgb" (x minus
      research/deeplab's mean RGB), "imagenet" ((x / 255 - mean) / std: torchvision), "caffe_bgr" (BGR order
      minus the Caffe mean: DeepLabv2, DifNet), "caffe_bgr_keras" (BGR minus keras.applications' mean: its
      ResNets). None = the pretrained weights' (resolved into config.json when a run starts:
      `li_seg.backbones.pretrained`), else the backbone's convention (MobileNetV2 "unit_range"; ResNet by layout:
      slim "mean_rgb", torchvision "imagenet", caffe "caffe_bgr"). A value that contradicts the weights' is
      refused unless `allow_normalization_mismatch`.
    weights: path to pretrained weights: a file users of the papers have on disk (TF-slim / research/deeplab /
      Wang & Ji TF1 checkpoints, keras.applications .h5, torchvision / timm / PyTorch-Encoding / mmsegmentation
      .pth or .safetensors) or one of ours (.weights.h5, TF checkpoint prefix); `li_seg.weights`, README
      "Pretrained weights"; or the name of published weights (`li_seg.weights.published`, fetched once into the
      Keras cache and verified). None = random initialisation.
    weights_format: the format of `weights` (`li_seg.weights.FORMATS`); None = detected from the file.
    allow_non_finite_weights: load NaN / Inf values of `weights` and of train.init_checkpoint (refused by default,
      naming the tensors: `li_seg.weights.values`).
    allow_normalization_mismatch: take `normalization` even where it contradicts the weights' (DifNet's code).
    bn_epsilon: the epsilon of the backbone's BN layers; None = the pretrained weights' (the network they were
      trained in: 1e-5 TF-slim / torchvision, 1.001e-5 keras.applications ResNet, 1e-3 MobileNetV2 and Wang & Ji's
      DeepLabv2), else the backbone's convention (ResNet 1e-5, MobileNetV2 1e-3). A value that contradicts the
      weights' is refused when they load.
    inhibition: LI (or RD) in front of the 3x3 conv of chosen units (LI-MobileNetV2, LI-ResNet; a unit hook of
      `li_seg.layers.inhibition`); None = off.
    inhibition_positions: where, by unit name: MobileNetV2 "rb1" ... "rb17" (between expansion and depthwise),
      ResNet "conv2_1" ... "conv5_<n>" (between conv1 and conv2 of block b-1's unit u). Required with
      `inhibition` (no implicit default; the LI paper's: rb10, rb13, rb16 / conv5_3).
    smoothing: ResNet only: smoothing of every unit whose 3x3 conv is dilated (at output stride 8 every unit of
      block3 and block4, the smoothing paper's placement; a unit hook of `li_seg.layers.smoothing`); None = off.
    """

    name: str = "mobilenet_v2"
    output_stride: int = 16
    multi_grid: Optional[tuple[int, ...]] = None
    layout: str = "slim"
    first_unit_dilated: Optional[bool] = None
    stem: str = "beta"
    stem_widths: tuple[int, int, int] = (64, 64, 128)
    normalization: Optional[str] = None
    weights: Optional[str] = None
    weights_format: Optional[str] = None
    allow_non_finite_weights: bool = False
    allow_normalization_mismatch: bool = False
    bn_epsilon: Optional[float] = None
    inhibition: Optional[InhibitionConfig] = None
    inhibition_positions: tuple[str, ...] = ()
    smoothing: Optional[SmoothingConfig] = None


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """Base class of the architectures' head configs. Each architecture registered in `li_seg.models` has its
    own subclass, defined beside its builder (e.g. `li_seg.models.deeplab.DeepLabConfig`), which validates
    itself: `errors(model_config, where)` lists what is wrong, with the valid values."""

    def errors(self, model: "ModelConfig", where: str = "model.head") -> list[str]:
        return []


@dataclasses.dataclass(frozen=True)
class AuxHeadConfig:
    """An auxiliary head for deep supervision (`li_seg.models.aux_head`; PSPNet, SPNet and CycleNet's training):
    3x3 conv `channels` (no bias) -> BN -> ReLU -> channel dropout `dropout_rate` -> 1x1 conv with bias to the
    classes, on the backbone endpoint `feature`, upsampled to the input. The model returns it as output `name`
    beside "logits"; training adds its cross-entropy weighted by `loss_weight`, everything else reads "logits"
    only (`li_seg.models.main_logits`; README "Models").
    """

    name: str = "aux_logits"
    feature: str = "block3"
    channels: int = 256
    dropout_rate: float = 0.1
    loss_weight: float = 0.4


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A segmentation model of `li_seg.models`: backbone -> head -> optional auxiliary heads.

    architecture: a name registered in `li_seg.models` ("deeplabv2", "deeplabv3", "deeplabv3plus", ...). It is
      also the tag of `head`: config.json stores the head's fields, and the architecture says which head config
      class reads them.
    backbone: the feature extractor.
    head: the architecture's own head config (e.g. `li_seg.models.deeplab.DeepLabConfig`); None = that class's
      defaults (`li_seg.models.build_model` reads None so; `experiments.config` fills them in when it parses a
      config, so config.json names every head field). This module is pure data: it imports no model.
    aux_heads: auxiliary heads trained beside the head (none by default).
    bn_momentum: Keras convention (moving = m * moving + (1 - m) * batch). None = chosen from the training length
      by `experiments.config` (see BUILD_NOTES "BN momentum"); `build_model` reads None as 0.99.
    frozen_bn: BN layers in inference mode and not trained (DeepLabv2 recipe).
    sync_bn: synchronized BN across replicas (keras BatchNormalization(synchronized=True)).
    """

    architecture: str = "deeplabv3"
    backbone: BackboneConfig = BackboneConfig()
    head: Optional[HeadConfig] = None
    aux_heads: tuple[AuxHeadConfig, ...] = ()
    bn_momentum: Optional[float] = None
    frozen_bn: bool = False
    sync_bn: bool = False


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """A dataset of `li_seg.data` and its input pipeline.

    dataset: a name from `li_seg.data.list_datasets()`; "synthetic" is embedded (no files needed).
    data_dir: the dataset's root directory (unused by "synthetic"), laid out as `data_format` says.
    data_format: "raw" (the dataset's official layout, README "Datasets"), "tfrecord" (the output directory of
      `scripts.convert_dataset`) or "tfds" (a TFDS data_dir in which `tfds build` prepared li_seg_<dataset>).
    check_split_sizes: refuse a raw split whose size differs from the papers' (`DatasetInfo.split_sizes`); turn
      off to use a subset or a modified copy on purpose.
    skip_bad_examples: before training, scan the split (`li_seg.data.validate`) and leave out examples that cannot
      be read or have defects, reporting each; by default training stops at the first defect and names its file.
    class_names, ignore_value: the "folder" dataset only: class names (overriding data_dir/classes.json) and the
      stored label value that marks ignored pixels (mapped to li_seg's ignore label 255).
    crop_size: (height, width) of training crops; images smaller than the crop are padded (labels with
      `label_pad_value`).
    label_pad_value: the label of padded pixels: 255 (ignore, the default: padding is never trained on) or a class
      (DifNet's code pads with 0, background).
    image_pad_value: the value of padded image pixels, RGB in [0, 255] before normalisation (127.5: mid-grey,
      research/deeplab's mean pixel; DifNet's code pads with 0, black); also `EvalConfig.pad_to`'s.
    pad_placement: where an image smaller than the crop sits in it: "corner" (padding at the bottom and right,
      research/deeplab's) or "random" (a uniformly random offset, DifNet's code).
    min_scale, max_scale, scale_step: random scale augmentation; scale_step 0 = continuous uniform, otherwise the
      discrete set {min, min + step, ..., max} (research/deeplab: 0.5, 2.0, 0.25).
    flip: random horizontal flip for training.
    train_split, eval_split: split names of the dataset.
    """

    dataset: str = "synthetic"
    data_dir: Optional[str] = None
    data_format: str = "raw"
    check_split_sizes: bool = True
    skip_bad_examples: bool = False
    class_names: tuple[str, ...] = ()
    ignore_value: Optional[int] = None
    crop_size: tuple[int, int] = (128, 128)
    label_pad_value: int = 255
    image_pad_value: float = 127.5
    pad_placement: str = "corner"
    min_scale: float = 0.5
    max_scale: float = 2.0
    scale_step: float = 0.25
    flip: bool = True
    train_split: str = "train"
    eval_split: str = "val"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, distribution and bookkeeping of a training run.

    train_steps / epochs: exactly one is set (epochs is converted to steps from the train split size).
    optimizer: "sgd" (momentum) or "adam" (adam_epsilon; the LI paper uses 0.01).
    lr_schedule: "poly" (lr * (1 - step / steps) ** poly_power, optional linear warm-up) or "constant".
    weight_decay: L2 as a loss term weight_decay * sum(w ** 2) / 2 (TF-slim's l2_regularizer, which the papers'
      recipes were tuned with; the same gradient as PyTorch SGD's weight_decay).
    weight_decay_scope: which variables it reaches: "kernels" (conv / dense kernels only, not biases, BN or
      constrained weights: TF-slim's) or "all" (every trainable variable: PyTorch SGD's weight_decay, as
      DifNet's code).
    lr_multipliers: (regex on variable path, multiplier) pairs; first match wins (DeepLabv2: classifier 10x / 20x).
    trainable_patterns: regexes on variable path; when non-empty only matching variables are trained (the
      rest keep their values; BN statistics still update).
    jit_compile: compile each replica's forward, loss and backward with XLA (`li_seg.training.step`; the
      collectives and the optimizer's update stay outside). Off by default: on CPU it is slower (BUILD_NOTES
      19.2); on GPUs it may help (not measured here). The deformable op then uses its XLA-capable sampler.
      Not with `deterministic` (no deterministic XLA max-pool gradient) nor with model.sync_bn.
    strategy: "default", "mirrored", "multi_worker_mirrored" (TF_CONFIG) or "tpu" (tpu_address).
    checkpoint_every_steps / keep_checkpoints: periodic checkpoints; the best by mIoU is kept apart.
    eval_every_steps: evaluation during train_and_eval (0 = only at the end).
    init_checkpoint: restore model weights (only) from this checkpoint before training, when model_dir has none.
    """

    batch_size: int = 8
    train_steps: Optional[int] = 1000
    epochs: Optional[float] = None
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    adam_epsilon: float = 1e-7
    lr_schedule: str = "poly"
    poly_power: float = 0.9
    end_learning_rate: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 4e-5
    weight_decay_scope: str = "kernels"
    lr_multipliers: tuple[tuple[str, float], ...] = ()
    trainable_patterns: tuple[str, ...] = ()
    mixed_precision: bool = False
    jit_compile: bool = False
    strategy: str = "default"
    tpu_address: Optional[str] = None
    seed: int = 0
    deterministic: bool = False
    log_every_steps: int = 10
    summary_every_steps: int = 50
    image_summary_every_steps: int = 500
    checkpoint_every_steps: int = 250
    keep_checkpoints: int = 3
    eval_every_steps: int = 0
    init_checkpoint: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Evaluation at each image's original resolution.

    scales: input scales whose softmax probabilities are averaged (research/deeplab eval_scales).
    add_flipped_images: also average the horizontally flipped input's probabilities.
    num_image_summaries: images written to TensorBoard as colour overlays per evaluation.
    max_examples: evaluate only the first N images (None = whole split).
    pad_to: centre-pad each image (with `DataConfig.image_pad_value`; an odd remainder's extra pixel at the top /
      left, as Python 2's round in DifNet's code) to at least pad_to x pad_to before predicting, and score the
      original pixels only (DifNet's code pads VOC val to 505); None = each image as it is. Evaluation only: the
      exported SavedModel serves each image as it is.
    """

    scales: tuple[float, ...] = (1.0,)
    add_flipped_images: bool = False
    num_image_summaries: int = 3
    max_examples: Optional[int] = None
    pad_to: Optional[int] = None
