"""python -m scripts.compare_runs RUN_DIR [RUN_DIR ...]

Tabulates finished runs side by side: each run's last evaluation (MODEL_DIR/eval/metrics-<step>.json: val mIoU
and per-class IoU) and the last logged mean and maximum LI intensity of each LI layer (TensorBoard scalars
"li_intensity_mean/<layer>", "li_intensity_max/<layer>"); then, per group of runs in one directory that differ
only by a "-seed<N>" suffix, the mean and the sample standard deviation over seeds. Nothing is re-evaluated: what
is printed is what the runs recorded.
"""

from __future__ import annotations

import json
import pathlib
import re
import statistics
import sys

from experiments import config as config_lib
from li_seg import data
from li_seg.training.summaries import read_scalars


def last_metrics(model_dir: pathlib.Path) -> tuple[int, dict]:
    """(step, metrics) of the run's last evaluation; FileNotFoundError naming the run when it has none."""
    files = sorted((model_dir / "eval").glob("metrics-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    if not files:
        raise FileNotFoundError(f"{model_dir} has no eval/metrics-*.json: it has not been evaluated")
    return int(files[-1].stem.split("-")[1]), json.loads(files[-1].read_text())


def last_intensities(model_dir: pathlib.Path) -> dict[str, float]:
    """The last value of every "li_intensity_mean/<layer>" and "li_intensity_max/<layer>" scalar in
    MODEL_DIR/train's event files, keyed "mean <layer>" / "max <layer>"."""
    series = read_scalars(model_dir / "train", ("li_intensity_mean/", "li_intensity_max/"))
    result = {}
    for tag, values in series.items():
        statistic, layer = tag.split("/", 1)
        result[f"{statistic.removeprefix('li_intensity_')} {layer}"] = values[-1][1]
    return result


def group_name(model_dir: pathlib.Path) -> str:
    """PARENT/NAME without its "-seed<N>": the seeds of one run group together; runs of the same name in different
    directories (pan/resnet101-seed0, cyclenet/resnet101-seed0) do not."""
    return f"{model_dir.parent.name}/" + re.sub(r"-seed\d+$", "", model_dir.name)


def spread(values: list[float], width: int = 6, detail: bool = True) -> str:
    """mean +- sample standard deviation of `values` ("-" for none, the mean alone for one), the mean `width`
    characters wide; with `detail`, also how many and their range."""
    if not values:
        return "-"
    mean = f"{statistics.mean(values):{width}.2f}"
    if len(values) < 2:
        return mean
    text = f"{mean} +- {statistics.stdev(values):.2f}"
    return f"{text} (n={len(values)}, {min(values):.2f}-{max(values):.2f})" if detail else text


def main(argv: list[str]) -> int:
    dirs = [pathlib.Path(arg) for arg in argv]
    if not dirs:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    runs = []
    for model_dir in dirs:
        try:
            step, metrics = last_metrics(model_dir)
            cfg = config_lib.load(model_dir / "config.json")
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        runs.append((model_dir, step, metrics, last_intensities(model_dir)))
    class_names = data.get_dataset_info(cfg.data).class_names
    header = f"{'run':<40} {'step':>5} {'mIoU':>6} " + " ".join(f"{name[:8]:>8}" for name in class_names)
    print(header)
    for model_dir, step, metrics, _ in runs:
        ious = " ".join(f"{100 * iou:8.2f}" if iou is not None else f"{'-':>8}" for iou in metrics["per_class_iou"])
        print(f"{model_dir.name:<40} {step:>5} {100 * metrics['miou']:6.2f} {ious}")
    print("\nper group (mean +- sample std over seeds):")
    groups: dict[str, list] = {}
    for run in runs:
        groups.setdefault(group_name(run[0].resolve()), []).append(run)
    for name, members in groups.items():
        print(f"  {name:<38} mIoU {spread([100 * m[2]['miou'] for m in members])}")
        for index, class_name in enumerate(class_names):
            values = [100 * m[2]["per_class_iou"][index] for m in members if m[2]["per_class_iou"][index] is not None]
            if values:
                print(f"      {class_name:<16} {spread(values)}")
        for key in sorted({key for m in members for key in m[3]}, key=lambda k: k.split()[::-1]):
            values = [m[3][key] for m in members if key in m[3]]
            print(f"      W_L {key:<37} " + " ".join(f"{v:.4f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
