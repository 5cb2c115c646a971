"""python -m scripts.difnet_table4 [--batch_size=1] [--crop=505] [--rounds=3] [--steps=2] [--warmup_steps=1]

DifNet's Table 4 on this machine: the inference time of DifNet-50's three parts against Sim-DeepLab-101 (the paper,
GTX 1080 at 505 x 505, batch 1: seed branch 18 ms, similarity branch 15 ms, diffusion 6 ms; Sim-DeepLab-101 36 ms),
21 classes, random weights and images.

The parts are models sharing DifNet's layers and weights, each fed what it reads in the whole model:
- seed: images -> s (the seed ResNet, ASPP-v2, the importance map and M * x);
- similarity: images, s -> Psi_1 ... Psi_5 (the second ResNet and the embeddings; s gives only the pooled size);
- diffusion: s, Psi_1 ... Psi_5 -> y_6 (the five walks).
All five are timed in one alternation with both whole models (`scripts.benchmarking.timing`; inference mode, every
output read back, the whole models' argmax), each printed as its median time per batch and its ratio to
Sim-DeepLab-101's beside the paper's. The training-step ratio of the same pair (the paper: DifNet-50's backward
about 1.3x) is `python -m scripts.benchmark --measure=cost --paper=difnet`.
"""

from __future__ import annotations

import time

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from experiments.papers import get_experiment  # noqa: E402
from li_seg.models import build_model  # noqa: E402
from li_seg.models.difnet import LEVELS, walk_name  # noqa: E402
from scripts.benchmarking.timing import (  # noqa: E402
    RoundFn, alternate, inference_rounds, print_header, random_batch, summarize,
)

FLAGS = flags.FLAGS

DIFNET, BASELINE = "difnet_50", "sim_deeplab_101"
PARTS = ("seed", "similarity", "diffusion")
PAPER_MS = {"seed": 18.0, "similarity": 15.0, "diffusion": 6.0, BASELINE: 36.0}  # Table 4


def parts(model: keras.Model) -> dict[str, keras.Model]:
    """{"seed": ..., "similarity": ..., "diffusion": ...} of a DifNet (module docstring)."""
    seed_layer = model.get_layer("seed")
    classes = seed_layer.output.shape[-1]
    levels = [level for level in LEVELS if walk_name(level) in {layer.name for layer in model.layers}]
    images, seed = keras.Input((None, None, 3)), keras.Input((None, None, classes))
    features = model.get_layer("similarity")(images)
    embeddings = [model.get_layer(walk_name(level).replace("walk", "psi"))([features[level], seed])
                  for level in levels]
    diffusion_inputs = [keras.Input((None, None, embedding.shape[-1])) for embedding in embeddings]
    diffusion_seed = keras.Input((None, None, classes))
    y = diffusion_seed
    for level, embedding in zip(levels, diffusion_inputs):
        y = model.get_layer(walk_name(level))([y, embedding, diffusion_seed])
    return {
        "seed": keras.Model(model.input, seed_layer.output),
        "similarity": keras.Model([images, seed], embeddings),
        "diffusion": keras.Model([diffusion_seed, *diffusion_inputs], y),
    }


def _rounds(model: keras.Model, inputs) -> RoundFn:
    """Inference of `model` on `inputs`, every output read back; n calls per round."""
    predict = tf.function(lambda inputs: tf.nest.flatten(model(inputs, training=False)))

    def run(calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            [output.numpy() for output in predict(inputs)]
        return time.perf_counter() - start

    return run


def contenders(difnet: keras.Model, baseline: keras.Model, images) -> dict[str, RoundFn]:
    """The three parts of `difnet` on `images` (each fed the outputs the part before it computes), the whole DifNet
    and the whole baseline: name -> RoundFn."""
    split = parts(difnet)
    seed = split["seed"](images, training=False)
    embeddings = split["similarity"]([images, seed], training=False)
    return {
        "seed": _rounds(split["seed"], images),
        "similarity": _rounds(split["similarity"], [images, seed]),
        "diffusion": _rounds(split["diffusion"], [seed, *embeddings]),
        DIFNET: inference_rounds(difnet, images),
        BASELINE: inference_rounds(baseline, images),
    }


def measure(*, batch_size: int, crop: tuple, rounds: int, steps: int, warmup: int) -> dict:
    """{name: summarize(...)} of the three parts and both whole models, 21 classes."""
    images, _ = random_batch(batch_size, crop, 21)
    models = {}
    for name in (DIFNET, BASELINE):
        keras.utils.set_random_seed(0)
        models[name] = build_model(get_experiment("difnet", name).model, 21)
    runs = contenders(models[DIFNET], models[BASELINE], images)
    times = alternate({name: (run, steps) for name, run in runs.items()}, rounds, warmup)
    return {name: summarize(seconds, batch_size) for name, seconds in times.items()}


def report(result: dict) -> str:
    """The table: each part's and model's median ms per batch, its ratio to the baseline, the paper's."""
    baseline, paper_baseline = result[BASELINE]["median_s"], PAPER_MS[BASELINE]
    paper_parts = sum(PAPER_MS[part] for part in PARTS)
    lines = [f"{'part':<16} {'median ms/batch':>15} {'spread':>8} {'/ ' + BASELINE:>20} {'paper ms':>9} "
             f"{'paper ratio':>12}"]
    for name, stats in result.items():
        paper = PAPER_MS.get(name, paper_parts)
        lines.append(f"{name:<16} {stats['median_s'] * 1000:>15.1f} {stats['spread']:>8.0%} "
                     f"{stats['median_s'] / baseline:>20.3f} {paper:>9.0f} {paper / paper_baseline:>12.3f}")
    parts = sum(result[name]["median_s"] for name in PARTS)
    diffusion_share = result["diffusion"]["median_s"] / parts
    lines.append(f"the three parts together: {parts * 1000:.1f} ms = {parts / baseline:.3f} x {BASELINE} (paper "
                 f"{paper_parts:.0f} / {paper_baseline:.0f} = {paper_parts / paper_baseline:.3f}); the diffusion "
                 f"{diffusion_share:.1%} of them (paper {PAPER_MS['diffusion'] / paper_parts:.1%})")
    return "\n".join(lines)


def main(argv) -> None:
    del argv
    print_header(__spec__.name if __spec__ else None)
    crop = tuple(int(v) for v in FLAGS.crop) * (2 if len(FLAGS.crop) == 1 else 1)
    print(f"batch {FLAGS.batch_size}, crop {crop[0]}x{crop[1]}, 21 classes, {FLAGS.rounds} rounds x {FLAGS.steps} "
          f"calls, {FLAGS.warmup_steps} warm-up calls, alternating rounds")
    print(report(measure(batch_size=FLAGS.batch_size, crop=crop, rounds=FLAGS.rounds, steps=FLAGS.steps,
                         warmup=FLAGS.warmup_steps)))


def define_flags() -> None:
    flags.DEFINE_integer("batch_size", 1, "Images per call (the paper: 1).")
    flags.DEFINE_list("crop", ["505"], "Input H,W (one value: square; the paper: 505).")
    flags.DEFINE_integer("rounds", 3, "Alternating rounds per contender.")
    flags.DEFINE_integer("steps", 2, "Calls per round.")
    flags.DEFINE_integer("warmup_steps", 1, "Untimed calls per contender before the rounds.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
