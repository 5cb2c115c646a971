#!/usr/bin/env bash
# PAN against its ResNet baseline (Table 1's "ResNet101" row: res5 -> 1x1 conv 256 + BN + ReLU -> classifier) on
# CamVid at reduced resolution, same seeds, recipe and budget. Results: python -m scripts.compare_runs OUT/*.
#
#   scripts/compare_pan_camvid.sh [DATA_DIR] [OUT] [STEPS] [DEPTH] [SEEDS...]
#
# Defaults: ../shared/datasets/camvid, runs/pan_camvid, 500, resnet18, seed 0. ResNet-101 is too slow for 2 CPU
# cores: DEPTH replaces it (PAN's deep stem, torchvision layout and OS 16 kept; ResNet-18's res2-res5 have 64-512
# channels, so the GAU low-level convs read 256 / 128 / 64 channels and FPA 512). From scratch (no ImageNet
# weights reachable here), so the paper's SGD recipe is replaced by Adam lr 1e-3 with poly decay, weight decay
# 1e-4; 176x240 crops of images scaled 0.4-0.6, batch 8; evaluation at scale 0.5 scored at 360x480. Re-running
# resumes (or skips) finished runs.
set -euo pipefail
DATA_DIR=${1:-../shared/datasets/camvid}
OUT=${2:-runs/pan_camvid}
STEPS=${3:-500}
DEPTH=${4:-resnet18}
shift $(( $# < 4 ? $# : 4 ))
SEEDS=${*:-0}
OVERRIDE="model.backbone.name=$DEPTH,train.optimizer=adam,train.adam_epsilon=1e-7,train.weight_decay=1e-4"
OVERRIDE+=",data.min_scale=0.4,data.max_scale=0.6,data.scale_step=0,train.eval_every_steps=0"
OVERRIDE+=",train.checkpoint_every_steps=100,train.log_every_steps=20"
for seed in $SEEDS; do
  for ablation in resnet101 pan; do
    python -m experiments.train --paper=pan --ablation=$ablation --dataset=camvid "--data_dir=$DATA_DIR" \
      --crop_size=176,240 --batch_size=8 --learning_rate=1e-3 --eval_scales=0.5 --seed="$seed" \
      --train_steps="$STEPS" --model_dir="$OUT/$ablation-$DEPTH-seed$seed" --params_override="$OVERRIDE"
  done
done
