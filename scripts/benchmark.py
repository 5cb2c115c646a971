"""python -m scripts.benchmark [--measure=model,pipeline,li,smoothing] [--batch_size=8 --crop=180,240 --rounds=5
    --steps=10]

Four side-by-side throughput comparisons, each printed as a ratio. The contenders of one comparison run in
alternating rounds (A, B, A, B, ...) in one process, because these machines are noisy: a slow period then hits
both, and the ratio stays meaningful where absolute numbers do not. Per contender: the median per-step time over
the rounds, images/s, the spread (min-max over rounds) and every round's number; per comparison: the ratio of
the medians and the per-round paired ratios.

1. model: training images/s of our DeepLabv3-MobileNetV2 (`build_model` with the LI-Convs `mnv2_aspp` config,
   the dataset's classes) against THE SAME ARCHITECTURE assembled from keras.applications.MobileNetV2
   (weights=None, include_top=False), truncated at block_16_project_BN, + the same ASPP head
   (li_seg.layers.aspp.aspp_v3) + logits 1x1 conv + bilinear resize. Does our hand-written backbone cost
   anything against the reference implementation? Target ours/keras >= 1.0.
   - Output stride 32: the unmodified Keras net. Output stride 16 (what the paper trains): Keras' net cloned
     with keras.models.clone_model(clone_function=...) so that block_13_pad becomes an Identity and
     block_13_depthwise has stride 1 and SAME padding, and blocks 14-16's depthwise convs have dilation 2
     (research/deeplab's atrous rule, as `li_seg.backbones.mobilenet_v2`).
   - The Keras net is built for the crop's fixed size: its ZeroPadding2D + VALID stride-2 convs then equal our
     SAME ones, so both produce the same feature-map sizes (with unknown sizes Keras drops a row/column of odd
     maps). The Keras net gets the same Rescaling to [-1, 1] in front that ours has inside.
   - Checked before timing: equal trainable parameter counts (asserted), and, after copying our weights into
     the Keras model by layer name, equal outputs (asserted): the two are the same function. The only
     difference left is Keras' BN momentum 0.999 vs ours 0.99, which costs nothing.
   - Train step as `li_seg.training.trainer` builds it (without the distribution strategy): loss =
     segmentation_loss + l2_weight_decay, SGD with momentum from `build_optimizer`, one tf.function per model,
     the same random batch held in memory (no input pipeline), warm-up steps (tracing) excluded.
2. pipeline: tf.data throughput of `li_seg.data.build_dataset(training=True)` (CamVid by default, falling back to
   the embedded synthetic dataset when the directory is absent; crop and continuous scale range of the lead's
   reduced-resolution CamVid run) against the consumption of our model's train step at the same batch and crop
   (output stride 16, the ablation's). Each pipeline round iterates a fresh iterator (untimed warm-up batches
   first) that is deleted after the round, so the pipeline runs alone with the whole machine and does not steal
   CPU from the training rounds. In a real run both share the cores: training/pipeline is then roughly the
   share of the CPU the pipeline takes from training. Target pipeline/training >= 3.
3. li: the cost of the LI layers (LI-Convs paper, Table VII: +0.33 % training time for MobileNetV2, +0.09 % for
   ResNet-50 with decoder). Per pair (`LI_PAIRS`): training step time and inference time (batch of
   --batch_size, argmax read back) of the LI ablation against its baseline, the four contenders alternating
   round by round; printed as time ratios LI/baseline. Targets (training): at most 1.03 for MobileNetV2,
   1.01 for ResNet-50. Same train step as comparison 1; both models of a pair get the same batch.
4. smoothing: the cost of smoothing the dilated convs (smoothing paper, Table II: +4.3 % Average, +5.6 % Gaussian,
   +24.9 % SS Conv, +13.8 % G Interact over DeepLabv2's training time). Training step time of each ablation of
   --smoothing_ablations against `deeplabv2` (ResNet-101, output stride 8, frozen BN), all contenders alternating
   round by round on the same batch; printed as time ratios ablation/deeplabv2. Target: at most 1.05 for
   average and gaussian. Not in the default --measure (a ResNet-101 at OS 8 is slow here): run it with a
   smaller batch and crop, e.g. --measure=smoothing --batch_size=2 --crop=161.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import shlex
import statistics
import sys
import time
from typing import Callable, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from experiments.papers import li_convs, smoothing  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.config import DataConfig, ModelConfig, TrainConfig  # noqa: E402
from li_seg.layers.aspp import aspp_v3  # noqa: E402
from li_seg.layers.normalization import BatchNormSettings  # noqa: E402
from li_seg.layers.resize import ResizeToMatch  # noqa: E402
from li_seg.models import build_model  # noqa: E402
from li_seg.training.losses import l2_weight_decay, segmentation_loss, weight_decay_variables  # noqa: E402
from li_seg.training.optimizers import build_optimizer  # noqa: E402

FLAGS = flags.FLAGS

ABLATION = "mnv2_aspp"
TRAINED_OUTPUT_STRIDE = 16
IGNORE_LABEL = 255

MEASURES = ("model", "pipeline", "li", "smoothing")
RoundFn = Callable[[int], float]  # runs n steps (or batches), returns the timed seconds
# (LI ablation, its baseline, training-time target LI/baseline): the LI-Convs paper's Table VII pairs.
LI_PAIRS = (
    ("li_mnv2_li_aspp", "mnv2_aspp", 1.03),
    ("li_resnet50_li_aspp_decoder", "resnet50_aspp_decoder", 1.01),
)


# ---------------------------------------------------------------------------------------------------------------
# The two models.


def model_config(output_stride: int) -> ModelConfig:
    cfg = li_convs.ABLATIONS[ABLATION]().model
    return dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, output_stride=output_stride))


def train_config() -> TrainConfig:
    """The ablation's recipe with SGD + momentum and a constant rate (the optimizer both contenders share)."""
    return dataclasses.replace(li_convs.ABLATIONS[ABLATION]().train, optimizer="sgd", lr_schedule="constant")


def keras_mobilenet_v2(output_stride: int, input_shape) -> keras.Model:
    """keras.applications.MobileNetV2 up to block_16_project_BN, at output stride 32 or (cloned) 16."""
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=input_shape)
    base = keras.Model(base.input, base.get_layer("block_16_project_BN").output, name="keras_mobilenet_v2")
    if output_stride == 32:
        return base
    if output_stride != 16:
        raise ValueError(f"the Keras contender supports output stride 16 or 32, got {output_stride}")

    def clone(layer):
        config = layer.get_config()
        if layer.name == "block_13_pad":
            return keras.layers.Identity(name=layer.name)
        if layer.name == "block_13_depthwise":
            config.update(strides=(1, 1), padding="same")
        elif layer.name in ("block_14_depthwise", "block_15_depthwise", "block_16_depthwise"):
            config.update(dilation_rate=(2, 2))
        return layer.__class__.from_config(config)

    return keras.models.clone_model(base, clone_function=clone)


def build_keras_deeplab(config: ModelConfig, num_classes: int, crop) -> keras.Model:
    """Our DeepLabv3 head (same builders as li_seg.models.deeplab) on keras.applications' MobileNetV2."""
    images = keras.Input((*crop, 3), name="images")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(images)
    features = keras_mobilenet_v2(config.backbone.output_stride, (*crop, 3))(x)
    x = aspp_v3(
        features, BatchNormSettings.from_model_config(config), rates=config.atrous_rates,
        channels=config.aspp_channels, separable=config.aspp_separable, image_pooling=config.image_pooling,
        dropout_rate=config.dropout_rate,
    )
    logits = keras.layers.Conv2D(
        num_classes, 1, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01), name="logits"
    )(x)
    outputs = ResizeToMatch(dtype="float32", name="upsample_logits")([logits, images])
    return keras.Model(images, outputs, name="keras_deeplabv3")


def trainable_parameters(model: keras.Model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def _layers_with_weights(model: keras.Model) -> dict:
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(_layers_with_weights(layer))
        elif layer.weights:
            found[layer.name] = layer
    return found


def max_output_difference(ours: keras.Model, theirs: keras.Model, images) -> float:
    """Copies our weights into `theirs` by layer name, returns max |ours(x) - theirs(x)| in inference mode."""
    source = _layers_with_weights(ours)
    for name, layer in _layers_with_weights(theirs).items():
        layer.set_weights(source[name].get_weights())
    return float(np.max(np.abs(ours(images, training=False) - theirs(images, training=False))))


def check_same_architecture(ours: keras.Model, theirs: keras.Model, images) -> dict:
    """Asserts equal trainable parameters, weight-decayed variables and outputs (after a weight copy)."""
    params = {"ours": trainable_parameters(ours), "keras": trainable_parameters(theirs)}
    assert params["ours"] == params["keras"], f"trainable parameters differ: {params}"
    decayed = [len(weight_decay_variables(model.trainable_variables)) for model in (ours, theirs)]
    assert decayed[0] == decayed[1], f"weight-decayed variables differ: ours {decayed[0]}, keras {decayed[1]}"
    difference = max_output_difference(ours, theirs, images)
    assert difference < 1e-3, f"the two models compute different functions: max |difference| {difference}"
    return {"params": params, "max_output_difference": difference}


# ---------------------------------------------------------------------------------------------------------------
# Timed units: a train step, a pipeline batch.


def random_batch(batch_size: int, crop, num_classes: int):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch_size, *crop, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, num_classes, (batch_size, *crop)), tf.int32)
    return images, labels


def train_rounds(model: keras.Model, images, labels) -> RoundFn:
    """The trainer's step (loss = cross-entropy + L2 decay, SGD momentum) as one tf.function; n steps per call."""
    train = train_config()
    optimizer = build_optimizer(train, train.learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            loss = segmentation_loss(
                labels, outputs, ignore_label=IGNORE_LABEL, aux_loss_weight=train.aux_loss_weight
            ) + l2_weight_decay(variables, train.weight_decay)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step(images, labels).numpy()  # blocks, as the trainer's per-step loss read does
        return time.perf_counter() - start

    return run


def inference_rounds(model: keras.Model, images) -> RoundFn:
    """Inference as a user runs it: logits in inference mode, argmax, labels read back; n batches per call."""

    @tf.function
    def predict(images):
        return tf.argmax(model(images, training=False), axis=-1)

    def run(batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            predict(images).numpy()
        return time.perf_counter() - start

    return run


@functools.cache
def ours_train_rounds(output_stride: int, num_classes: int, batch_size: int, crop: tuple) -> tuple:
    """(our model, its RoundFn), built once and shared by both comparisons."""
    model = build_model(model_config(output_stride), num_classes)
    return model, train_rounds(model, *random_batch(batch_size, crop, num_classes))


def pipeline_rounds(dataset: tf.data.Dataset, warmup_batches: int) -> RoundFn:
    """n batches from a fresh iterator (after `warmup_batches` untimed), deleted afterwards."""

    def run(batches: int) -> float:
        iterator = iter(dataset)
        for _ in range(warmup_batches):
            next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        elapsed = time.perf_counter() - start
        del iterator  # stops its background threads before the next (training) round
        return elapsed

    return run


def alternate(contenders: dict, rounds: int, warmup: int) -> dict:
    """contenders: name -> (RoundFn, units per round). Warm-up, then A, B, A, B, ...; seconds per unit per round."""
    for run, _ in contenders.values():
        if warmup:
            run(warmup)
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (run, units) in contenders.items():
            times[name].append(run(units) / units)
    return times


def summarize(seconds: list, batch_size: int) -> dict:
    median = statistics.median(seconds)
    return {
        "median_s": median, "images_per_s": batch_size / median, "min_s": min(seconds), "max_s": max(seconds),
        "spread": (max(seconds) - min(seconds)) / median, "rounds_s": list(seconds),
    }


def compare(times: dict, a: str, b: str, batch_size: int) -> dict:
    """Stats of both; ratio = images/s of a over b (ratio of medians) and the per-round paired ratios."""
    result = {name: summarize(times[name], batch_size) for name in (a, b)}
    result["ratio"] = result[b]["median_s"] / result[a]["median_s"]
    result["round_ratios"] = [tb / ta for ta, tb in zip(times[a], times[b])]
    result["median_round_ratio"] = statistics.median(result["round_ratios"])
    return result


# ---------------------------------------------------------------------------------------------------------------
# The two comparisons.


def measure_model(
    output_stride: int, *, batch_size: int, crop: tuple, num_classes: int, rounds: int, steps: int, warmup: int
) -> dict:
    """Ours vs keras.applications at one output stride; asserts equal parameters and equal outputs first."""
    ours, ours_run = ours_train_rounds(output_stride, num_classes, batch_size, tuple(crop))
    theirs = build_keras_deeplab(model_config(output_stride), num_classes, crop)
    images, labels = random_batch(batch_size, crop, num_classes)
    checks = check_same_architecture(ours, theirs, images[:2])
    times = alternate(
        {"ours": (ours_run, steps), "keras": (train_rounds(theirs, images, labels), steps)}, rounds, warmup
    )
    result = compare(times, "ours", "keras", batch_size)
    result.update(output_stride=output_stride, **checks)
    return result


def measure_li(
    li_ablation: str, baseline: str, *, batch_size: int, crop: tuple, num_classes: int, rounds: int, steps: int,
    warmup: int,
) -> dict:
    """Training and inference time of `li_ablation` vs `baseline`, four contenders alternating; ratio = LI/base."""
    images, labels = random_batch(batch_size, crop, num_classes)
    contenders, params = {}, {}
    for role, ablation in (("baseline", baseline), ("li", li_ablation)):
        keras.utils.set_random_seed(0)
        model = build_model(li_convs.ABLATIONS[ablation]().model, num_classes)
        params[role] = trainable_parameters(model)
        contenders[f"{role}_train"] = (train_rounds(model, images, labels), steps)
        contenders[f"{role}_infer"] = (inference_rounds(model, images), steps)
    times = alternate(contenders, rounds, warmup)
    result = {"params": params}
    for kind in ("train", "infer"):
        pair = {"baseline": times[f"baseline_{kind}"], "li": times[f"li_{kind}"]}
        result[kind] = compare(pair, "baseline", "li", batch_size)  # ratio: LI's time over the baseline's
    return result


def measure_smoothing(
    ablations, *, batch_size: int, crop: tuple, num_classes: int, rounds: int, steps: int, warmup: int
) -> dict:
    """Training time of each smoothing ablation vs deeplabv2, all alternating: {ablation: compare(...)} with
    ratio = ablation's time over deeplabv2's, and "params": trainable parameters per contender."""
    images, labels = random_batch(batch_size, crop, num_classes)
    contenders, params = {}, {}
    for ablation in ("deeplabv2", *ablations):
        keras.utils.set_random_seed(0)
        model = build_model(smoothing.ABLATIONS[ablation]().model, num_classes)
        params[ablation] = trainable_parameters(model)
        contenders[ablation] = (train_rounds(model, images, labels), steps)
    times = alternate(contenders, rounds, warmup)
    result = {ablation: compare(times, "deeplabv2", ablation, batch_size) for ablation in ablations}
    result["params"] = params
    return result


def pipeline_data_config(dataset: str, data_dir: Optional[str], crop, min_scale, max_scale, scale_step):
    """The DataConfig of the pipeline and a note when CamVid's directory is absent (synthetic data instead)."""
    note = ""
    if dataset != "synthetic" and not (data_dir and (pathlib.Path(data_dir) / "train.txt").exists()):
        note = f"NOTE: {dataset} not found at {data_dir!r} (no train.txt): using the embedded synthetic dataset."
        dataset, data_dir = "synthetic", None
    config = DataConfig(
        dataset=dataset, data_dir=data_dir, crop_size=tuple(crop), min_scale=min_scale, max_scale=max_scale,
        scale_step=scale_step,
    )
    return config, note


def measure_pipeline(
    data_config: DataConfig, *, batch_size: int, rounds: int, steps: int, batches: int, warmup: int,
    pipeline_warmup: int,
) -> dict:
    """tf.data training pipeline vs our train step (output stride 16), alternating; ratio pipeline/training."""
    num_classes = data.get_dataset_info(data_config).num_classes
    dataset = data.build_dataset(data_config, data_config.train_split, training=True, batch_size=batch_size)
    _, train_run = ours_train_rounds(TRAINED_OUTPUT_STRIDE, num_classes, batch_size, tuple(data_config.crop_size))
    times = alternate(
        {"pipeline": (pipeline_rounds(dataset, pipeline_warmup), batches), "training": (train_run, steps)},
        rounds, warmup,
    )
    result = compare(times, "pipeline", "training", batch_size)
    result.update(dataset=data_config.dataset, private_threadpool=dataset.options().threading.private_threadpool_size)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Output.


def _row(name: str, stats: dict, extra: str = "") -> str:
    return (
        f"  {name:<10} {extra:>12} {stats['median_s'] * 1000:>15.1f} {stats['images_per_s']:>10.2f}"
        f"   {stats['min_s'] * 1000:.1f}-{stats['max_s'] * 1000:.1f} ms ({stats['spread']:.0%})"
    )


def print_comparison(
    title: str, result: dict, a: str, b: str, target: Optional[float], extras=None, *, ratio_name: str = "images/s"
) -> None:
    """Both contenders' statistics and the ratio of `a` over `b`; `target` None = no verdict. For ratio_name
    "time" the ratio is a cost (a's time over b's) and the target an upper bound, else a lower bound."""
    extras = extras or {}
    print(f"\n== {title}")
    header = f"  {'contender':<10} {'params' if extras else '':>12} {'median ms/batch':>15} {'images/s':>10}"
    print(header + "   spread (min-max)")
    for name in (a, b):
        print(_row(name, result[name], f"{extras[name]:,}" if extras else ""))
    if target is None:
        verdict = ""
    elif ratio_name == "time":
        verdict = f"   [{'meets' if result['ratio'] <= target else 'ABOVE'} target <= {target:g}]"
    else:
        verdict = f"   [{'meets' if result['ratio'] >= target else 'BELOW'} target >= {target:g}]"
    rounds = " ".join(f"{r:.3f}" for r in result["round_ratios"])
    print(f"  ratio {a}/{b} ({ratio_name}, medians): {result['ratio']:.3f}{verdict}")
    low, high = min(result["round_ratios"]), max(result["round_ratios"])
    print(f"  per-round ratios: {rounds}  (min {low:.3f}, max {high:.3f}, median {result['median_round_ratio']:.3f})")
    for name in (a, b):
        print(f"  per-round ms/batch {name:<9}: " + " ".join(f"{s * 1000:.1f}" for s in result[name]["rounds_s"]))


def print_header() -> None:
    command = [sys.executable, "-m", __spec__.name] if __spec__ else [sys.argv[0]]
    print("command:", shlex.join(command + sys.argv[1:]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    intra = tf.config.threading.get_intra_op_parallelism_threads() or f"auto = {cores}"
    inter = tf.config.threading.get_inter_op_parallelism_threads() or f"auto = {cores}"
    gpus = len(tf.config.list_physical_devices("GPU"))
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}; CPUs: {os.cpu_count()} ({cores} schedulable), "
          f"GPUs: {gpus}")
    print(f"TF threads: intra-op {intra}, inter-op {inter}")


def main(argv) -> None:
    del argv
    print_header()
    crop = tuple(int(v) for v in FLAGS.crop) * (2 if len(FLAGS.crop) == 1 else 1)
    unknown = set(FLAGS.measure) - set(MEASURES)
    unknown_ablations = [a for a in FLAGS.smoothing_ablations if a not in smoothing.ABLATIONS or a == "deeplabv2"]
    if unknown or len(crop) != 2 or unknown_ablations:
        raise app.UsageError(
            f"--measure: {','.join(MEASURES)} (got {FLAGS.measure}); --crop: H,W or S (got {FLAGS.crop}); "
            f"--smoothing_ablations: from {', '.join(a for a in smoothing.ABLATIONS if a != 'deeplabv2')} "
            f"(got {FLAGS.smoothing_ablations})"
        )
    data_config, note = pipeline_data_config(
        FLAGS.dataset, FLAGS.data_dir, crop, FLAGS.min_scale, FLAGS.max_scale, FLAGS.scale_step
    )
    if note:
        print(note)
    num_classes = data.get_dataset_info(data_config).num_classes
    common = dict(batch_size=FLAGS.batch_size, rounds=FLAGS.rounds, steps=FLAGS.steps, warmup=FLAGS.warmup_steps)
    print(f"batch {FLAGS.batch_size}, crop {crop[0]}x{crop[1]}, {num_classes} classes ({data_config.dataset}), "
          f"{FLAGS.rounds} rounds x {FLAGS.steps} steps, {FLAGS.warmup_steps} warm-up steps, alternating rounds")
    if "model" in FLAGS.measure:
        for output_stride in (int(v) for v in FLAGS.output_strides):
            result = measure_model(output_stride, crop=crop, num_classes=num_classes, **common)
            print_comparison(
                f"model: training step, {ABLATION} DeepLabv3-MobileNetV2, output stride {output_stride} "
                f"(ours vs keras.applications + same head; outputs equal after weight copy: max diff "
                f"{result['max_output_difference']:.1e})",
                result, "ours", "keras", 1.0, extras=result["params"],
            )
    if "pipeline" in FLAGS.measure:
        result = measure_pipeline(
            data_config, batches=FLAGS.pipeline_batches, pipeline_warmup=FLAGS.pipeline_warmup, **common
        )
        print_comparison(
            f"pipeline: build_dataset(training=True) on {data_config.dataset}, scale {FLAGS.min_scale}-"
            f"{FLAGS.max_scale} ({'continuous' if not FLAGS.scale_step else f'step {FLAGS.scale_step}'}), "
            f"{FLAGS.pipeline_batches} batches/round vs our train step (OS {TRAINED_OUTPUT_STRIDE})",
            result, "pipeline", "training", 3.0,
        )
        print(f"  threads: tf.data map parallelism AUTOTUNE, private thread pool "
              f"{result['private_threadpool'] or 'none (TF runtime pools)'}; the train step uses the intra-op pool. "
              "Both share the same cores.")
        print(f"  The pipeline was measured ALONE, with the whole machine. During training it competes with the "
              f"step for the cores: keeping up costs it about training/pipeline = {1 / result['ratio']:.0%} of the "
              "machine's CPU time.")
    if "li" in FLAGS.measure:
        for li_ablation, baseline, target in LI_PAIRS:
            if li_ablation not in FLAGS.li_ablations:
                continue
            result = measure_li(li_ablation, baseline, crop=crop, num_classes=num_classes, **common)
            for kind, bound in (("train", target), ("infer", None)):
                print_comparison(
                    f"li: {'training step' if kind == 'train' else 'inference (argmax)'}, {li_ablation} vs "
                    f"{baseline} (time ratio LI/baseline; paper Table VII)",
                    result[kind], "li", "baseline", bound, extras=result["params"], ratio_name="time",
                )
    if "smoothing" in FLAGS.measure:
        result = measure_smoothing(FLAGS.smoothing_ablations, crop=crop, num_classes=num_classes, **common)
        for ablation in FLAGS.smoothing_ablations:
            paper = smoothing.PAPER_TRAINING_OVERHEAD.get(ablation)
            print_comparison(
                f"smoothing: training step, {ablation} vs deeplabv2 (ResNet-101 OS 8; time ratio; paper Table II: "
                f"{'+%.1f %%' % (100 * paper) if paper is not None else 'not reported'})",
                result[ablation], ablation, "deeplabv2", 1.05 if ablation in ("average", "gaussian") else None,
                extras=result["params"], ratio_name="time",
            )


def define_flags() -> None:
    """The command line's flags, defined only when run as a program: the functions above are also imported
    (tests), next to modules such as experiments.flags that define flags of the same names."""
    flags.DEFINE_list("measure", ["model", "pipeline", "li"], "Which comparisons to run: model, pipeline, li.")
    flags.DEFINE_integer("batch_size", 8, "Images per step / per batch.")
    flags.DEFINE_list("crop", ["180", "240"], "Crop H,W (one value: square).")
    flags.DEFINE_integer("rounds", 5, "Alternating rounds per contender.")
    flags.DEFINE_integer("steps", 10, "Train steps per round.")
    flags.DEFINE_integer("warmup_steps", 2, "Untimed steps (or batches) per contender before the rounds.")
    flags.DEFINE_list("output_strides", ["16", "32"], "Output strides of the model comparison.")
    flags.DEFINE_string("dataset", "camvid", "Dataset of the pipeline (and the number of classes).")
    flags.DEFINE_string("data_dir", "../shared/datasets/camvid", "Its directory; synthetic data if it is absent.")
    flags.DEFINE_float("min_scale", 0.375, "Random-scale augmentation range of the pipeline...")
    flags.DEFINE_float("max_scale", 0.75, "...")
    flags.DEFINE_float("scale_step", 0.0, "0 = continuous scale range.")
    flags.DEFINE_list("li_ablations", [li for li, _, _ in LI_PAIRS], "LI ablations of --measure=li (LI_PAIRS).")
    flags.DEFINE_list("smoothing_ablations", [a for a in smoothing.ABLATIONS if a != "deeplabv2"],
                      "Smoothing ablations of --measure=smoothing, each timed against deeplabv2.")
    flags.DEFINE_integer("pipeline_batches", 20, "Batches per pipeline round.")
    flags.DEFINE_integer("pipeline_warmup", 2, "Untimed batches of each pipeline round's fresh iterator.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
