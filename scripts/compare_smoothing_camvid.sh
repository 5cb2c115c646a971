#!/usr/bin/env bash
# The smoothing paper's comparison at a size 2 CPU cores can train: deeplabv2 vs gaussian vs average (ResNet-101,
# output stride 8) on CamVid at reduced resolution, same seeds and recipe. Results: python -m scripts.compare_runs
# OUT/*.
#
#   scripts/compare_smoothing_camvid.sh [DATA_DIR] [OUT] [STEPS] [SEEDS...]
#
# Defaults: ../shared/datasets/camvid, runs/smoothing_camvid, 200, seed 0. From scratch (no COCO-pretrained
# DeepLabv2 is reachable here), so the paper's fine-tuning recipe is replaced: BN trained (frozen BN needs
# pretrained statistics), Adam lr 1e-3 poly, no classifier lr multipliers, weight decay 1e-4; 96x128 crops of
# images scaled 0.25-0.5, batch 4; evaluation at scale 0.5 scored at 360x480. Re-running resumes (or skips)
# finished runs.
set -euo pipefail
DATA_DIR=${1:-../shared/datasets/camvid}
OUT=${2:-runs/smoothing_camvid}
STEPS=${3:-200}
shift $(( $# < 3 ? $# : 3 ))
SEEDS=${*:-0}
OVERRIDE="model.frozen_bn=false,train.optimizer=adam,train.adam_epsilon=1e-7,train.lr_multipliers=[]"
OVERRIDE+=",data.min_scale=0.25,data.max_scale=0.5,data.scale_step=0,train.eval_every_steps=0"
OVERRIDE+=",train.checkpoint_every_steps=100,train.log_every_steps=20"
for seed in $SEEDS; do
  for ablation in deeplabv2 gaussian average; do
    python -m experiments.train --paper=smoothing --ablation=$ablation --dataset=camvid "--data_dir=$DATA_DIR" \
      --crop_size=96,128 --batch_size=4 --learning_rate=1e-3 --eval_scales=0.5 --seed="$seed" \
      --train_steps="$STEPS" --model_dir="$OUT/$ablation-seed$seed" --params_override="$OVERRIDE"
  done
done
