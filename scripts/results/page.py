"""python -m scripts.results.page --out=RUNS [--page=docs/results.md] [--figures=docs/results] [driver flags]

docs/results.md from the campaign's runs (`scripts.results.driver`, same --out / --arms / --seeds / --steps): what
every run recorded, nothing re-evaluated. For each arm: val mIoU mean +- sample std over the finished seeds and each
seed's value; for a method, the difference to its paper's baseline paired by seed (the same seed gives both the
same data order and augmentation) with a 95 % Student-t interval over the paired differences; pixel accuracy;
trainable parameters of the evaluated model (auxiliary heads excluded, as `scripts.model_table` counts them);
training images/s (the median of the run's "images_per_second" scalars: robust to a paused or shared window).
Then per-class IoU of each method against its baseline, each paper's learned quantities at the end of training
(the scalars the paper layers publish: LI intensities W_L, aggregated smoothing coefficients, ADC offsets and
masks, DifNet's mu_t / beta_t), the runs not finished (named, not estimated), and two figures written by
matplotlib: the paired mIoU differences (FIGURES/miou_differences.png) and the validation mIoU curves
(FIGURES/validation_curves.png, TensorBoard's "miou" scalars of each run's eval/). --out may be the records
directory (`scripts.results.driver --records`): config.json, the final metrics file and the train/ and eval/
TensorBoard files are all the page reads. The hand-written reading (FIGURES/reading.md), when present, is
included as it is.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import statistics
import sys
from typing import Optional

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from absl import app, flags  # noqa: E402
from scipy import stats  # noqa: E402

from experiments import config as config_lib  # noqa: E402
from experiments import papers  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.models import build_model, inference_model  # noqa: E402
from li_seg.training.summaries import read_scalars  # noqa: E402
from scripts.compare_runs import spread  # noqa: E402
from scripts.model_table import trainable_parameters  # noqa: E402
from scripts.results import driver, protocol  # noqa: E402

FLAGS = flags.FLAGS

# The scalars paper layers publish (li_seg.layers.diagnostics) that the page reports at the end of training.
LEARNED_PREFIXES = ("li_intensity_mean/", "li_intensity_max/", "smoothing_coefficients/",
                    "deformable_offsets_mean_abs/", "deformable_mask_mean/", "difnet_mu/", "difnet_beta/")


@dataclasses.dataclass
class RunResult:
    seed: int
    miou: float  # percent
    pixel_accuracy: float  # percent
    per_class_iou: list[Optional[float]]  # percent
    curve: list[tuple[int, float]]  # (step, val mIoU percent)
    images_per_second: Optional[float]
    learned: dict[str, float]  # tag -> last value


@dataclasses.dataclass
class ArmResult:
    arm: protocol.Arm
    runs: dict[int, RunResult]  # seed -> result (finished runs only)
    parameters: Optional[int]
    backbone: Optional[str]  # the backbone the protocol ran (the arm's name is its paper's table row)


def read_run(run: driver.Run, steps: int) -> RunResult:
    metrics = json.loads((run.model_dir / "eval" / f"metrics-{steps}.json").read_text())
    curve = read_scalars(run.model_dir / "eval", ("miou",)).get("miou", [])
    if not curve or curve[-1][0] != steps:
        raise ValueError(f"its eval/ TensorBoard files have no validation mIoU at step {steps}")
    train = read_scalars(run.model_dir / "train", ("images_per_second", *LEARNED_PREFIXES))
    speed = [value for _, value in train.pop("images_per_second", [])]
    learned = {tag: values[-1][1] for tag, values in train.items()}
    return RunResult(
        seed=run.seed, miou=100 * metrics["miou"], pixel_accuracy=100 * metrics["pixel_accuracy"],
        per_class_iou=[None if iou is None else 100 * iou for iou in metrics["per_class_iou"]],
        curve=[(step, 100 * value) for step, value in curve],
        images_per_second=statistics.median(speed) if speed else None, learned=learned)


def network(model_dir: pathlib.Path) -> tuple[int, str]:
    """(trainable parameters of the run's evaluated model, its backbone's name), built from its config.json (no
    weights read)."""
    cfg = config_lib.load(model_dir / "config.json")
    model = build_model(cfg.model, data.get_dataset_info(cfg.data).num_classes)
    count = trainable_parameters(inference_model(model))
    keras.backend.clear_session()
    return count, cfg.model.backbone.name


class RecordError(Exception):
    """A finished run's record cannot be read; the message names it and the fix."""


def collect(runs: list[driver.Run], settings: driver.Settings) -> list[ArmResult]:
    by_arm: dict[str, ArmResult] = {}
    for run in runs:
        result = by_arm.setdefault(run.arm.name, ArmResult(run.arm, {}, None, None))
        if driver.finished(run, settings.steps):
            try:
                result.runs[run.seed] = read_run(run, settings.steps)
                if result.parameters is None:
                    result.parameters, result.backbone = network(run.model_dir)
            except (OSError, ValueError) as error:  # unreadable or undecodable (ConfigError is a ValueError)
                raise RecordError(f"{run.model_dir} is finished but its record cannot be read ({error}). Fix: if "
                                  "it is committed, restore it (git checkout -- DIR); otherwise delete that "
                                  "directory and run the driver again: it copies the run's record anew, or "
                                  "trains the run again if it is gone") from None
    return list(by_arm.values())


def baselines_of(arms: list[ArmResult]) -> dict[str, ArmResult]:
    """Each method's baseline among `arms`, by the method's arm name (a method chosen without its baseline has
    none)."""
    rows = {(a.arm.paper, a.arm.ablation): a for a in arms}
    return {a.arm.name: rows[(a.arm.paper, a.arm.baseline)] for a in arms if (a.arm.paper, a.arm.baseline) in rows}


def paired_differences(method: ArmResult, baseline: ArmResult) -> list[float]:
    """method - baseline mIoU for each seed both finished, in seed order."""
    return [method.runs[s].miou - baseline.runs[s].miou for s in sorted(set(method.runs) & set(baseline.runs))]


def paired_difference(method: ArmResult, baseline: ArmResult) -> Optional[tuple[float, Optional[float], int]]:
    """(mean of method - baseline over the seeds both finished, half-width of its 95 % t interval or None for one
    seed, number of pairs), or None without a pair."""
    differences = paired_differences(method, baseline)
    if not differences:
        return None
    if len(differences) == 1:
        return differences[0], None, 1
    half = stats.t.ppf(0.975, len(differences) - 1) * statistics.stdev(differences) / math.sqrt(len(differences))
    return statistics.mean(differences), half, len(differences)


def papers_difference(arm: protocol.Arm) -> str:
    """method - baseline mIoU as the paper printed them (`experiments.papers` REPORTED), on each evaluation set
    the paper reports for both, e.g. "+0.95 VOC val"; "-" for a baseline, "not printed" when the paper has no
    number for one of the two."""
    if arm.baseline is None:
        return "-"
    reported = papers.record(arm.paper).reported
    method, baseline = reported.get(arm.ablation), reported.get(arm.baseline)
    common = [name for name in (method.miou if method else {}) if baseline and name in baseline.miou]
    return "; ".join(f"{method.miou[name] - baseline.miou[name]:+.2f} {name}" for name in common) or "not printed"


def _difference_text(difference) -> str:
    if difference is None:
        return "-"
    mean, half, pairs = difference
    if half is None:
        return f"{mean:+.2f} (one seed)"
    return f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}] ({pairs} seeds paired)"


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def _fmt(value: Optional[float], spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


TABLE_NOTES = [
    "- mIoU and pixel accuracy: CamVid val (101 images, void ignored) after the last step; mean +- sample standard "
    "deviation over the seeds finished, and each seed's value (s0, s1, s2).",
    "- Difference: method minus its paper's baseline, paired by seed (a seed fixes the data order and the "
    "augmentation of both), with a 95 % Student-t interval over the paired differences and the number of pairs; "
    "with one pair there is no interval, and no reading either way.",
    "- The paper's difference: the same method minus the same baseline as the paper printed them "
    "(`experiments/papers/<paper>.py`, REPORTED, which names each table row), on the paper's datasets, from "
    "pretrained weights, with its full recipe: what compares with this table is its sign, not its size.",
    "- Parameters: trainable parameters of the evaluated network (auxiliary heads excluded).",
    "- Train images/s: the median of the run's logged training speed on these 2 CPU cores. Other work (tests, a "
    "page rebuild) shared the cores during some runs, so the speeds are indicative only; `python -m "
    "scripts.benchmark` measures costs side by side.",
]


def main_table(arms: list[ArmResult]) -> list[str]:
    baselines = baselines_of(arms)
    lines = ["| paper | arm (the paper's table row) | backbone here | seeds | mIoU (mean +- std) | per seed | "
             "vs baseline: difference [95 % interval] | the paper's difference | pixel acc. | parameters (M) | "
             "train images/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for result in arms:
        runs = [result.runs[s] for s in sorted(result.runs)]
        baseline = baselines.get(result.arm.name)
        difference = paired_difference(result, baseline) if baseline else None
        role = f"{result.arm.ablation} (baseline)" if result.arm.baseline is None else result.arm.ablation
        lines.append(
            f"| {result.arm.paper} | {role} | {result.backbone or '-'} | {len(runs)} | "
            f"{spread([r.miou for r in runs], width=1, detail=False)} | "
            f"{', '.join(f's{r.seed}: {r.miou:.2f}' for r in runs) or '-'} | {_difference_text(difference)} | "
            f"{papers_difference(result.arm)} | "
            f"{_fmt(_mean(r.pixel_accuracy for r in runs))} | "
            f"{_fmt(None if result.parameters is None else result.parameters / 1e6, '.2f')} | "
            f"{_fmt(_mean(r.images_per_second for r in runs), '.1f')} |")
    return lines


def per_class_tables(arms: list[ArmResult], class_names: list[str]) -> list[str]:
    lines = []
    for paper in dict.fromkeys(a.arm.paper for a in arms):
        members = [a for a in arms if a.arm.paper == paper and a.runs]
        if not members:
            continue
        lines += [f"**{paper}** (mean over finished seeds)", "",
                  "| class | " + " | ".join(a.arm.ablation for a in members) + " |",
                  "|---|" + "---|" * len(members)]
        for index, name in enumerate(class_names):
            cells = [_fmt(_mean(r.per_class_iou[index] for r in a.runs.values())) for a in members]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _summarise_learned(tags: dict[str, list[float]]) -> list[str]:
    """One line per quantity: LI intensities and ADC statistics as mean over layers (range), the rest by tag."""
    lines = []
    groups: dict[str, dict[str, float]] = {}
    for tag, values in sorted(tags.items()):
        kind, _, layer = tag.partition("/")
        groups.setdefault(kind, {})[layer] = statistics.mean(values)
    for kind, layers in groups.items():
        if kind in ("li_intensity_mean", "li_intensity_max", "deformable_offsets_mean_abs", "deformable_mask_mean"):
            values = list(layers.values())
            lines.append(f"{kind}: " + ", ".join(f"{layer} {value:.4g}" for layer, value in layers.items())
                         + (f" (over layers: {min(values):.4g}-{max(values):.4g})" if len(values) > 1 else ""))
        else:
            lines.append(f"{kind}: " + ", ".join(f"{layer} {value:.4g}" for layer, value in layers.items()))
    return lines


def learned_section(arms: list[ArmResult]) -> list[str]:
    lines = []
    for result in arms:
        tags: dict[str, list[float]] = {}
        for run in result.runs.values():
            for tag, value in run.learned.items():
                tags.setdefault(tag, []).append(value)
        if tags:
            lines.append(f"- {result.arm.name} (mean over {len(result.runs)} seed(s)): "
                         + "; ".join(_summarise_learned(tags)))
    return lines


def not_finished(runs: list[driver.Run], settings: driver.Settings) -> list[str]:
    """One line per run not finished, with its state; made from records (no run has a driver.log), it says that
    "not started" there means not recorded yet."""
    training = driver.Lock(runs[0].model_dir.parents[1]).training() if runs else None  # OUT/<paper>/<run>
    lines = [f"- {run.arm.name} seed {run.seed}: {driver.state(run, settings.steps, training)}"
             for run in runs if not driver.finished(run, settings.steps)]
    if lines and not any((run.model_dir / "driver.log").exists() for run in runs):
        lines = ["Made from the records: \"not started\" means not recorded yet (the run may be training).", "",
                 *lines]
    return lines


def plot_differences(arms: list[ArmResult], path: pathlib.Path) -> None:
    baselines = baselines_of(arms)
    rows = [(a, baselines[a.arm.name]) for a in arms if a.arm.name in baselines]
    figure, axis = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2), layout="constrained")
    for y, (method, baseline) in enumerate(rows):
        differences = paired_differences(method, baseline)
        axis.scatter(differences, [y] * len(differences), color="tab:blue", s=14, zorder=3)
        difference = paired_difference(method, baseline)
        if difference is not None:
            mean, half, _ = difference
            axis.errorbar([mean], [y], xerr=None if half is None else [[half], [half]], fmt="D", color="black",
                          capsize=3, markersize=5, zorder=2)
    axis.axvline(0.0, color="grey", linewidth=0.8)
    axis.set_yticks(range(len(rows)), [f"{m.arm.paper}: {m.arm.ablation} - {b.arm.ablation}" for m, b in rows])
    axis.invert_yaxis()
    axis.set_xlabel("val mIoU difference to the paper's baseline (points)\ndots: seeds; diamond and bar: mean, "
                    "95 % interval")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_curves(arms: list[ArmResult], path: pathlib.Path) -> None:
    papers = list(dict.fromkeys(a.arm.paper for a in arms))
    figure, axes = plt.subplots(1, len(papers), figsize=(3.4 * len(papers), 3.2), squeeze=False,
                                layout="constrained")
    for axis, paper in zip(axes[0], papers):
        for color, result in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"],
                                 [a for a in arms if a.arm.paper == paper]):
            for index, run in enumerate(result.runs.values()):
                steps, values = zip(*run.curve)
                axis.plot(steps, values, color=color, alpha=0.8, linewidth=1.2,
                          label=result.arm.ablation if index == 0 else None)
        axis.set_title(paper)
        axis.set_xlabel("step")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    axes[0][0].set_ylabel("val mIoU (%), one line per seed")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_page(page: pathlib.Path, figures: pathlib.Path, runs: list[driver.Run], settings: driver.Settings,
               arms: list[ArmResult], class_names: list[str], command: str) -> None:
    figures.mkdir(parents=True, exist_ok=True)
    plot_differences(arms, figures / "miou_differences.png")
    plot_curves(arms, figures / "validation_curves.png")
    reading = figures / "reading.md"
    protocol_text = protocol.__doc__.strip()
    lines = [
        "# Results: each method against its paper's baseline, one protocol, three seeds", "",
        f"Made by `{command}` from the records of `python -m scripts.results.driver run --out=RUNS "
        "--records=docs/results/runs` (this page is generated: edit the scripts or the reading, not the page).", "",
        "## Protocol", "", protocol_text, "",
        f"Dataset `{settings.dataset}`, {settings.steps} steps, crop {settings.crop[0]} x {settings.crop[1]}, "
        f"evaluation every {settings.eval_every_steps} steps.", "",
        "## mIoU", "", *main_table(arms), "", *TABLE_NOTES, "",
        f"![paired mIoU differences]({os.path.relpath(figures / 'miou_differences.png', page.parent)})", "",
        f"![validation curves]({os.path.relpath(figures / 'validation_curves.png', page.parent)})", "",
        "## Per-class IoU", "", *per_class_tables(arms, class_names),
        "## Learned quantities at the end of training", "", *(learned_section(arms) or ["(no run finished)"]), "",
        "## Runs not finished", "", *(not_finished(runs, settings) or ["None: every arm has every seed."]), "",
    ]
    if reading.exists():
        lines += ["## Reading", "", reading.read_text().strip(), ""]
    page.write_text("\n".join(lines))


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(f"unexpected arguments {' '.join(argv[1:])}", file=sys.stderr)
        return 2
    try:
        out, runs, settings = driver.settings_from_flags()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        arms = collect(runs, settings)
    except RecordError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finished = [run for run in runs if driver.finished(run, settings.steps)]
    if not finished:
        print(f"error: no run under {out} is finished (python -m scripts.results.driver status --out={out})",
              file=sys.stderr)
        return 1
    class_names = data.get_dataset_info(config_lib.load(finished[0].model_dir / "config.json").data).class_names
    command = "python -m scripts.results.page " + " ".join(sys.argv[1:])
    write_page(pathlib.Path(FLAGS.page), pathlib.Path(FLAGS.figures), runs, settings, arms, list(class_names),
               command)
    print(f"wrote {FLAGS.page} ({len(finished)} of {len(runs)} runs finished) and {FLAGS.figures}/*.png")
    return 0


if __name__ == "__main__":
    driver.define_flags()
    flags.DEFINE_string("page", "docs/results.md", "The page to write.")
    flags.DEFINE_string("figures", "docs/results", "Directory of its figures (and of the hand-written reading.md).")
    app.run(main)
