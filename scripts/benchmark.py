"""python -m scripts.benchmark [--measure=model,pipeline,cost,deform,diffusion,xla,memory] [--paper=P]
    [--batch_size=8 --crop=180,240 --rounds=5 --steps=10]

Side-by-side throughput comparisons, each printed as a ratio of medians over alternating rounds (A, B, A, B, ...
in one process: these machines are noisy, a slow period hits both contenders and the ratio stays meaningful);
per contender the median per-step time, images/s, the spread and every round's number (`benchmarking.timing`).

1. model: training images/s of our DeepLabv3-MobileNetV2 (the default `ModelConfig`: separable ASPP 6/12/18 with
   image pooling) against THE SAME ARCHITECTURE assembled from keras.applications (`benchmarking.keras_reference`;
   equal parameters and equal outputs asserted first). Does our hand-written backbone cost anything against the
   reference implementation? Target ours/keras >= 1.0. Train step as the trainer builds it (without the
   distribution strategy): loss = segmentation_loss + l2_weight_decay, SGD with momentum, one tf.function per
   model, the same random batch held in memory (no input pipeline), warm-up steps (tracing) excluded.
2. pipeline: tf.data throughput of `li_seg.data.build_dataset(training=True)` (CamVid by default, falling back to
   the embedded synthetic dataset when the directory is absent; crop and continuous scale range of the lead's
   reduced-resolution CamVid run) against the consumption of our model's train step at the same batch and crop
   (output stride 16). Each pipeline round iterates a fresh iterator (untimed warm-up batches first) that is
   deleted after the round, so the pipeline runs alone with the whole machine and does not steal CPU from the
   training rounds. In a real run both share the cores: training/pipeline is then roughly the share of the CPU
   the pipeline takes from training. Target pipeline/training >= 3.
3. cost: the costs --paper reports (`PaperRecord.costs`: an ablation against its baseline, the paper's training
   and inference time ratios, our target): every model of the paper's comparisons (--ablations to choose) timed
   in one alternation, training steps for all, inference (batch of --batch_size, argmax read back) where the
   paper reports an inference ratio or the record asks for it; printed as time ratios ablation/baseline beside
   the paper's. ResNet-101 at output stride 8 is slow here: e.g. --measure=cost --paper=smoothing --batch_size=2
   --crop=161.
4. deform: forward + backward of li_seg.ops.modulated_deform_conv2d against tf.nn.conv2d of the same shape (3x3,
   --deform_channels in and out, SAME, --batch_size x --crop; gradients of every input). Target deform/conv <= 2
   (CycleNet's ADC: 256 channels at 128x128, batch 2 and 8), for the default sampler (crop_and_resize) and the
   gather sampler (target: within 1.5x of the default). With --torch_python, torchvision.ops.deform_conv2d and
   torch's conv2d alternate with them in a torch process (`benchmarking.torch_deform`). Then each one's peak
   memory in a fresh process (`benchmarking.deform`).
5. diffusion: DifNet's five cascaded random walks (li_seg.ops.diffusion_step), forward + backward of every input,
   P_t built whole against --diffusion_chunk rows at a time, --diffusion_side^2 nodes (65: a 513 crop at OS 8), 21
   classes, 64 features, --batch_size. Targets: chunked time <= 1.2 x materialised, chunked peak memory <= 1/10 of
   materialised (peaks in a fresh process each, `benchmarking.diffusion`).
6. xla: each paper's main model (or --paper's), the training step with train.jit_compile against the same step
   without, alternating (the compile happens in the warm-up steps). Ratio: XLA time / plain time; above 1 on this
   CPU is why train.jit_compile is off by default.
7. memory: what fits where. Each paper's main model and its baseline (or --paper's; --ablations: other rows), one
   training step at the paper's crop in a fresh process per precision (float32, mixed_float16) and batch (1, 2):
   the rise of the peak resident memory = fixed + per image x batch (`benchmarking.train_memory`), printed as the
   per-replica need of the recipe's batch on 1, 2, 4 and 8 replicas and, for 16 / 24 / 40 / 80 GB cards, the
   fewest replicas that fit (need <= 85 % of the card: CUDA context, cuDNN workspace and allocator slack). Not a
   ratio: memory is not noisy. --crop / --batch_size do not apply (the recipe's are used).
"""

from __future__ import annotations

import functools
import pathlib
from typing import Optional

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import keras  # noqa: E402
from absl import app, flags  # noqa: E402

from experiments.papers import PAPERS, get_experiment, record  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.config import BackboneConfig, DataConfig, ModelConfig  # noqa: E402
from li_seg.models import build_model, loss_weights  # noqa: E402
from li_seg.models.deeplab import DeepLabConfig  # noqa: E402
from scripts.benchmarking.keras_reference import (  # noqa: E402
    build_keras_deeplab, check_same_architecture, trainable_parameters,
)
from scripts.benchmarking import deform, diffusion, peak_memory, torch_deform, train_memory  # noqa: E402
from scripts.benchmarking.timing import (  # noqa: E402
    alternate, compare, gradient_rounds, inference_rounds, pipeline_rounds, print_comparison, print_header,
    random_batch, train_rounds,
)

FLAGS = flags.FLAGS
TRAINED_OUTPUT_STRIDE = 16
MEASURES = ("model", "pipeline", "cost", "deform", "diffusion", "xla", "memory")
CARDS_GB = (16, 24, 40, 80)
CARD_USABLE = 0.85  # of a card's memory, the rest for the CUDA context, cuDNN's workspace, allocator slack


def model_config(output_stride: int) -> ModelConfig:
    """DeepLabv3-MobileNetV2 with research/deeplab's separable ASPP: the defaults of ModelConfig."""
    return ModelConfig(architecture="deeplabv3", backbone=BackboneConfig("mobilenet_v2", output_stride),
                       head=DeepLabConfig())


@functools.cache
def ours_train_rounds(output_stride: int, num_classes: int, batch_size: int, crop: tuple) -> tuple:
    """(our model, its RoundFn), built once and shared by the model and pipeline comparisons."""
    model = build_model(model_config(output_stride), num_classes)
    return model, train_rounds(model, *random_batch(batch_size, crop, num_classes))


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


def measure_cost(
    paper: str, ablations=None, *, batch_size: int, crop: tuple, num_classes: int, rounds: int, steps: int,
    warmup: int,
) -> list[tuple]:
    """[(CostComparison, {"train": compare(...), "infer": compare(...) or absent}, params)] for the paper's cost
    comparisons (only those of `ablations` when given): time ratios ablation / baseline, all models alternating."""
    comparisons = [cost for cost in record(paper).costs if ablations is None or cost.ablation in ablations]
    inference = {name for cost in comparisons if cost.times_inference for name in (cost.ablation, cost.baseline)}
    images, labels = random_batch(batch_size, crop, num_classes)
    contenders, params = {}, {}
    for name in dict.fromkeys(n for cost in comparisons for n in (cost.baseline, cost.ablation)):
        keras.utils.set_random_seed(0)
        model_cfg = get_experiment(paper, name).model
        model = build_model(model_cfg, num_classes)
        params[name] = trainable_parameters(model)
        contenders[f"{name}/train"] = (train_rounds(model, images, labels, loss_weights(model_cfg)), steps)
        if name in inference:
            contenders[f"{name}/infer"] = (inference_rounds(model, images), steps)
    times = alternate(contenders, rounds, warmup)
    results = []
    for cost in comparisons:
        kinds = ("train", "infer") if cost.times_inference else ("train",)
        measured = {}
        for kind in kinds:
            pair = {"baseline": times[f"{cost.baseline}/{kind}"], "ablation": times[f"{cost.ablation}/{kind}"]}
            measured[kind] = compare(pair, "baseline", "ablation", batch_size)  # ratio: ablation time / baseline
        results.append((cost, measured, {"ablation": params[cost.ablation], "baseline": params[cost.baseline]}))
    return results


def measure_deform(*, batch_size: int, crop: tuple, channels: int, rounds: int, steps: int, warmup: int,
                   torch_python: Optional[str] = None) -> dict:
    """Forward + backward (gradients of every input) of li_seg.ops.modulated_deform_conv2d against tf.nn.conv2d of
    the same shape (`benchmarking.deform.problem`) on a batch_size x crop map, both samplers. Ratio: deform time /
    conv time (the default sampler; result["gather"]: the same comparison for the gather sampler, result
    ["gather_vs_default"]: gather time / default time). With `torch_python`, torchvision's deform_conv2d and
    torch's conv2d alternate with them (`benchmarking.torch_deform`): result["torch"] (torchvision / torch conv)
    and result["ours_vs_torchvision"] (our default sampler's time / torchvision's)."""
    contenders = {kind: (gradient_rounds(*deform.problem(kind, batch_size, *crop, channels)), steps)
                  for kind in deform.KINDS}
    if torch_python:
        peers = torch_deform.torch_rounds(torch_python, batch_size, *crop, channels)
        contenders.update({f"torch_{kind}": (run, steps) for kind, run in peers.items()})
    times = alternate(contenders, rounds, warmup)
    result = {**compare(times, "conv", "deform", batch_size),
              "gather": compare(times, "conv", "deform_gather", batch_size),
              "gather_vs_default": compare(times, "deform", "deform_gather", batch_size)}
    if torch_python:
        result["torch"] = compare(times, "torch_conv", "torch_deform", batch_size)
        result["ours_vs_torchvision"] = compare(times, "torch_deform", "deform", batch_size)
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


def _paper_ratio(ratio: Optional[float]) -> str:
    return "not reported" if ratio is None else f"{ratio:.3f} ({100 * (ratio - 1):+.1f} %)"


def print_costs(paper: str, results: list) -> None:
    for cost, measured, params in results:
        for kind, measurement in measured.items():
            paper_ratio = cost.paper_train_ratio if kind == "train" else cost.paper_infer_ratio
            what = "training step" if kind == "train" else "inference (argmax)"
            print_comparison(
                f"cost ({paper}): {what}, {cost.ablation} vs {cost.baseline} (time ratio; paper: "
                f"{_paper_ratio(paper_ratio)}, {cost.source})",
                measurement, "ablation", "baseline", cost.target_train_ratio if kind == "train" else None,
                extras=params, ratio_name="time",
            )


def measure_diffusion(*, batch_size: int, side: int, chunk_size: int, rounds: int, steps: int, warmup: int) -> dict:
    """Forward + backward of five walks, materialised against chunked (`benchmarking.diffusion.problem`). Ratio:
    chunked time / materialised time."""
    contenders = {kind: (gradient_rounds(*diffusion.problem(kind, batch_size, side, 21, 64, chunk_size)), steps)
                  for kind in diffusion.KINDS}
    return compare(alternate(contenders, rounds, warmup), "materialised", "chunked", batch_size)


def measure_xla(papers, *, batch_size: int, crop: tuple, num_classes: int, rounds: int, steps: int,
                warmup: int) -> dict:
    """{paper: compare(...)}: each paper's main model, its training step with the loss and gradients XLA-compiled
    against the same step without, alternating. Ratio: XLA time / plain time."""
    images, labels = random_batch(batch_size, crop, num_classes)
    results = {}
    for paper in papers:
        keras.utils.set_random_seed(0)
        model_cfg = get_experiment(paper, None).model
        model = build_model(model_cfg, num_classes)
        contenders = {kind: (train_rounds(model, images, labels, loss_weights(model_cfg), jit_compile=kind == "xla"),
                             steps) for kind in ("plain", "xla")}
        results[paper] = compare(alternate(contenders, rounds, warmup), "plain", "xla", batch_size)
    return results


def memory_rows(paper: str, ablations=None) -> list[str]:
    """The rows --measure=memory measures for `paper`: --ablations, else its main model and that model's baseline
    in the paper's cost comparisons (the one that is no other comparison's ablation: CycleNet's FCN, not
    CycleASPP)."""
    if ablations:
        return list(ablations)
    paper_record = record(paper)
    compared = {cost.ablation for cost in paper_record.costs}
    baselines = [cost.baseline for cost in paper_record.costs if cost.ablation == paper_record.main_ablation]
    roots = [baseline for baseline in baselines if baseline not in compared]
    return [paper_record.main_ablation, *(roots or baselines)[:1]]


def print_memory(paper: str, ablation: str, needs: dict) -> None:
    """One row's needs per precision: fixed + per image, the recipe's batch per replica count, the cards' fit."""
    cfg = get_experiment(paper, ablation)
    batch, crop = cfg.train.batch_size, cfg.data.crop_size
    print(f"memory ({paper} / {ablation}): one training step at crop {crop[0]}x{crop[1]}, recipe batch {batch}")
    for precision, need in needs.items():
        if need is None:
            print(f"  {precision:14s} not measured (above)")
            continue
        per_replica = train_memory.per_replica_batches(batch)
        replicas = [batch // b for b in per_replica]
        fits = []
        for card in CARDS_GB:
            fitting = [r for r, b in zip(replicas, per_replica) if need.at(b) <= CARD_USABLE * card * 1024]
            fits.append(f"{card} GB: {fitting[0]} x {batch // fitting[0]}" if fitting else f"{card} GB: no")
        print(f"  {precision:14s} fixed {need.fixed:7,.0f} MB + {need.per_image:6,.0f} MB per image; per replica "
              + ", ".join(f"{r} x {b}: {need.at(b) / 1024:.1f} GB" for r, b in zip(replicas, per_replica))
              + "; fewest replicas that fit: " + ", ".join(fits))


def main(argv) -> None:
    del argv
    print_header(__spec__.name if __spec__ else None)
    crop = tuple(int(v) for v in FLAGS.crop) * (2 if len(FLAGS.crop) == 1 else 1)
    unknown = set(FLAGS.measure) - set(MEASURES)
    if unknown or len(crop) != 2 or ("cost" in FLAGS.measure and FLAGS.paper not in PAPERS):
        raise app.UsageError(f"--measure: {','.join(MEASURES)} (got {FLAGS.measure}); --crop: H,W or S (got "
                             f"{FLAGS.crop}); --measure=cost needs --paper, one of {', '.join(PAPERS)}")
    if "memory" in FLAGS.measure and FLAGS.ablations and FLAGS.paper not in PAPERS:
        raise app.UsageError(f"--measure=memory with --ablations needs --paper, one of {', '.join(PAPERS)} (the "
                             "rows are that paper's)")
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
                f"model: training step, DeepLabv3-MobileNetV2, output stride {output_stride} (ours vs "
                f"keras.applications + same head; outputs equal after weight copy: max diff "
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
    if "cost" in FLAGS.measure:
        results = measure_cost(FLAGS.paper, FLAGS.ablations, crop=crop, num_classes=num_classes, **common)
        print_costs(FLAGS.paper, results)
    if "deform" in FLAGS.measure:
        result = measure_deform(crop=crop, channels=FLAGS.deform_channels, torch_python=FLAGS.torch_python, **common)
        print_comparison(
            f"deform: modulated_deform_conv2d vs tf.nn.conv2d, 3x3 {FLAGS.deform_channels} -> "
            f"{FLAGS.deform_channels}, forward + backward (time ratio; target at most 2)",
            result, "deform", "conv", 2.0, ratio_name="time",
        )
        print_comparison("the same with the gather sampler (float64's and XLA's; measured in the same alternation)",
                         result["gather"], "deform_gather", "conv", 2.0, ratio_name="time")
        print_comparison("the gather sampler against the default (target at most 1.5)", result["gather_vs_default"],
                         "deform_gather", "deform", 1.5, ratio_name="time")
        if "torch" in result:
            print_comparison("the peer: torchvision.ops.deform_conv2d vs torch's conv2d (C++ CPU kernels, same shape, "
                             "alternating with ours)", result["torch"], "torch_deform", "torch_conv", None,
                             ratio_name="time")
            print_comparison("ours (default sampler) vs torchvision.ops.deform_conv2d", result["ours_vs_torchvision"],
                             "deform", "torch_deform", None, ratio_name="time")
        else:
            print("  (torchvision's deform_conv2d not compared: give --torch_python=PATH, a Python with "
                  "requirements-crosscheck.txt)")
        peaks = {kind: peak_memory.step_peak_mb(deform.__name__, kind, FLAGS.batch_size, *crop, FLAGS.deform_channels)
                 for kind in deform.KINDS}
        print("  peak memory of one forward + backward (rise of the peak RSS, a fresh process each): "
              + ", ".join(f"{kind} {peak:.0f} MB" for kind, peak in peaks.items()))
    if "xla" in FLAGS.measure:
        for paper, result in measure_xla([FLAGS.paper] if FLAGS.paper else PAPERS, crop=crop,
                                         num_classes=num_classes, **common).items():
            print_comparison(f"xla ({paper}, main model): training step with loss and gradients XLA-compiled vs "
                             "not (time ratio; train.jit_compile is off by default where it is above 1)",
                             result, "xla", "plain", None, ratio_name="time")
    if "memory" in FLAGS.measure:
        for paper in [FLAGS.paper] if FLAGS.paper else PAPERS:
            for ablation in memory_rows(paper, FLAGS.ablations):
                needs = {precision: train_memory.measure(paper, ablation, precision)
                         for precision in train_memory.PRECISIONS}
                print_memory(paper, ablation, needs)
    if "diffusion" in FLAGS.measure:
        side, chunk = FLAGS.diffusion_side, FLAGS.diffusion_chunk
        result = measure_diffusion(side=side, chunk_size=chunk, **common)
        print_comparison(
            f"diffusion: five random walks over {side}x{side} nodes, 21 classes, 64 features, forward + backward, "
            f"chunks of {chunk} rows vs P built whole (time ratio; target at most 1.2)",
            result, "chunked", "materialised", 1.2, ratio_name="time",
        )
        peaks = {kind: peak_memory.step_peak_mb(diffusion.__name__, kind, FLAGS.batch_size, side, 21, 64, chunk)
                 for kind in diffusion.KINDS}
        ratio = peaks["chunked"] / peaks["materialised"]
        print(f"  peak memory of one forward + backward (rise of the peak RSS, a fresh process each): materialised "
              f"{peaks['materialised']:.0f} MB, chunked {peaks['chunked']:.0f} MB, ratio {ratio:.3f} "
              f"[{'meets' if ratio <= 0.1 else 'ABOVE'} target <= 0.1]")


def define_flags() -> None:
    """The command line's flags, defined only when run as a program: the functions above are also imported
    (tests), next to modules such as experiments.flags that define flags of the same names."""
    flags.DEFINE_list("measure", ["model", "pipeline"], f"Which comparisons to run: {', '.join(MEASURES)}.")
    flags.DEFINE_string("paper", None, "--measure=cost: the paper whose cost comparisons to measure; --measure=xla, "
                        "memory: only this paper (default: all five).")
    flags.DEFINE_list("ablations", None, "--measure=cost: only the comparisons of these ablations (default: all); "
                      "--measure=memory: these rows (default: the main model and its baseline).")
    flags.DEFINE_integer("batch_size", 8, "Images per step / per batch.")
    flags.DEFINE_list("crop", ["180", "240"], "Crop H,W (one value: square).")
    flags.DEFINE_integer("rounds", 5, "Alternating rounds per contender.")
    flags.DEFINE_integer("steps", 10, "Train steps per round.")
    flags.DEFINE_integer("warmup_steps", 2, "Untimed steps (or batches) per contender before the rounds.")
    flags.DEFINE_list("output_strides", ["16", "32"], "Output strides of the model comparison.")
    flags.DEFINE_integer("deform_channels", 256, "--measure=deform: input and output channels (ADC's 256).")
    flags.DEFINE_string("torch_python", None, "--measure=deform: a Python with torch and torchvision "
                        "(requirements-crosscheck.txt) to time torchvision.ops.deform_conv2d beside ours.")
    flags.DEFINE_integer("diffusion_side", 65, "--measure=diffusion: nodes per side (65: a 513 crop at OS 8).")
    flags.DEFINE_integer("diffusion_chunk", 128, "--measure=diffusion: rows of P per chunk.")
    flags.DEFINE_string("dataset", "camvid", "Dataset of the pipeline (and the number of classes).")
    flags.DEFINE_string("data_dir", "../shared/datasets/camvid", "Its directory; synthetic data if it is absent.")
    flags.DEFINE_float("min_scale", 0.375, "Random-scale augmentation range of the pipeline...")
    flags.DEFINE_float("max_scale", 0.75, "...")
    flags.DEFINE_float("scale_step", 0.0, "0 = continuous scale range.")
    flags.DEFINE_integer("pipeline_batches", 20, "Batches per pipeline round.")
    flags.DEFINE_integer("pipeline_warmup", 2, "Untimed batches of each pipeline round's fresh iterator.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
