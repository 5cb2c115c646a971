#!/usr/bin/env bash
# CycleNet (CycleASPP + ADC) against its ResNet baseline (Table 2's "ResNet-101" row: block4 -> FCNHead -> classifier)
# on CamVid at reduced resolution, same seeds, recipe and budget, both with the auxiliary FCN head on block3 (0.4).
# Results: python -m scripts.compare_runs OUT/*.
#
#   scripts/compare_cyclenet_camvid.sh [DATA_DIR] [OUT] [STEPS] [DEPTH] [SEEDS...]
#
# Defaults: ../shared/datasets/camvid, runs/cyclenet_camvid, 500, resnet18, seed 0. ResNet-101 is too slow for 2
# CPU cores: DEPTH replaces it (CycleNet's deep stem, torchvision layout and OS 8 with rates 2 / 4 kept; ResNet-18's
# block4 has 512 channels, a quarter of ResNet-101's, so CycleASPP takes DenseASPP's narrower DenseNet-121 widths
# 128 / 64 instead of 512 / 128 and outputs 6 x 64 + 512 channels; ADC's low level reads block1's 64). From
# scratch (no ImageNet weights reachable here), so the paper's SGD recipe is replaced by Adam lr 1e-3 with poly
# decay, weight decay 1e-4; 176x240 crops of images scaled 0.4-0.6, batch 8, no synchronized BN (one device);
# evaluation at scale 0.5 scored at 360x480. Re-running resumes (or skips) finished runs.
set -euo pipefail
DATA_DIR=${1:-../shared/datasets/camvid}
OUT=${2:-runs/cyclenet_camvid}
STEPS=${3:-500}
DEPTH=${4:-resnet18}
shift $(( $# < 4 ? $# : 4 ))
SEEDS=${*:-0}
OVERRIDE="model.backbone.name=$DEPTH,model.sync_bn=false,train.optimizer=adam,train.adam_epsilon=1e-7"
OVERRIDE+=",model.head.cycle_aspp.bottleneck_channels=128,model.head.cycle_aspp.growth_channels=64"
OVERRIDE+=",train.weight_decay=1e-4,data.min_scale=0.4,data.max_scale=0.6,data.scale_step=0"
OVERRIDE+=",train.eval_every_steps=0,train.checkpoint_every_steps=100,train.log_every_steps=20"
for seed in $SEEDS; do
  for ablation in resnet101 cyclenet; do
    python -m experiments.train --paper=cyclenet --ablation=$ablation --dataset=camvid "--data_dir=$DATA_DIR" \
      --crop_size=176,240 --batch_size=8 --learning_rate=1e-3 --eval_scales=0.5 --seed="$seed" \
      --train_steps="$STEPS" --model_dir="$OUT/$ablation-$DEPTH-seed$seed" --params_override="$OVERRIDE"
  done
done
