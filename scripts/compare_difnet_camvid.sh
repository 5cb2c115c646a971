#!/usr/bin/env bash
# DifNet against Sim-DeepLab of the same depth (Table 1's pairs) on CamVid at reduced resolution, same seeds, recipe
# and budget. Results: python -m scripts.compare_runs OUT/*; the learned mu_t / beta_t are in each DifNet run's
# TensorBoard scalars (difnet_mu/walk<t>, difnet_beta/walk<t>) and in OUT/difnet_<depth>-seed<s>/figures.txt.
#
#   scripts/compare_difnet_camvid.sh [DATA_DIR] [OUT] [STEPS] [DEPTH] [SEEDS...]
#
# DifNet runs also get their figures and learned mu_t / beta_t (scripts/visualize_difnet.py, val image 0).
# Defaults: ../shared/datasets/camvid, runs/difnet_camvid, 500, 18, seed 0. DifNet's layout is kept (caffe-layout
# ResNets at OS 8, ASPP-v2, five walks on the second ResNet's levels); the depth is 18 because ResNet-50 / 101 are
# too slow on 2 CPU cores. From scratch (no ImageNet weights reachable here), so the paper's SGD recipe
# (lr 2.5e-4, tuned for pretrained ResNets) is replaced by Adam lr 1e-3 with poly decay and weight decay 1e-4 on
# kernels; 176x240 crops of images scaled 0.4-0.6 (23 x 31 = 713 nodes per walk), batch 8; evaluation at scale 0.5
# scored at 360x480. Re-running resumes (or skips) finished runs.
set -euo pipefail
DATA_DIR=${1:-../shared/datasets/camvid}
OUT=${2:-runs/difnet_camvid}
STEPS=${3:-500}
DEPTH=${4:-18}
shift $(( $# < 4 ? $# : 4 ))
SEEDS=${*:-0}
OVERRIDE="train.optimizer=adam,train.adam_epsilon=1e-7,train.weight_decay=1e-4,train.lr_multipliers=[]"
OVERRIDE+=",data.min_scale=0.4,data.max_scale=0.6,data.scale_step=0"
OVERRIDE+=",train.eval_every_steps=0,train.checkpoint_every_steps=100,train.log_every_steps=20"
for seed in $SEEDS; do
  for ablation in "sim_deeplab_$DEPTH" "difnet_$DEPTH"; do
    run="$OUT/$ablation-seed$seed"
    python -m experiments.train --paper=difnet --ablation="$ablation" --dataset=camvid "--data_dir=$DATA_DIR" \
      --crop_size=176,240 --batch_size=8 --learning_rate=1e-3 --eval_scales=0.5 --seed="$seed" \
      --train_steps="$STEPS" --model_dir="$run" --params_override="$OVERRIDE"
    if [[ $ablation == difnet_* ]]; then
      python -m scripts.visualize_difnet --model_dir="$run" --index=0 --output="$run/difnet.png" > "$run/figures.txt"
    fi
  done
done
