#!/usr/bin/env bash
# The LI paper's claim at small scale: mnv2_aspp vs li_mnv2_li_aspp on CamVid at reduced resolution, same seeds and
# recipe, then the LI-only fine-tuning stage for the LI model. Results: python -m scripts.compare_runs OUT/*.
#
#   scripts/compare_li_camvid.sh [DATA_DIR] [OUT] [STEPS] [FINETUNE_STEPS] [SEEDS...]
#
# Defaults: ../shared/datasets/camvid, runs/li_camvid, 600, 150, seeds 0 1 2. Training: 180x240 crops of images
# scaled 0.375-0.75, batch 8, Adam lr 1e-3 poly (epsilon 0.01), evaluation at scale 0.5 scored at 360x480.
# Re-running resumes (or skips) finished runs.
set -euo pipefail
DATA_DIR=${1:-../shared/datasets/camvid}
OUT=${2:-runs/li_camvid}
STEPS=${3:-600}
FINETUNE_STEPS=${4:-150}
shift $(( $# < 4 ? $# : 4 ))
SEEDS=${*:-0 1 2}
COMMON=(--paper=li_convs --dataset=camvid "--data_dir=$DATA_DIR" --crop_size=180,240 --batch_size=8
        --eval_scales=0.5 --learning_rate=1e-3)
DATA_OVERRIDE="data.min_scale=0.375,data.max_scale=0.75,data.scale_step=0,train.eval_every_steps=0"
DATA_OVERRIDE+=",train.checkpoint_every_steps=200,train.log_every_steps=50"
for seed in $SEEDS; do
  for ablation in mnv2_aspp li_mnv2_li_aspp; do
    python -m experiments.train "${COMMON[@]}" --ablation=$ablation --seed="$seed" --train_steps="$STEPS" \
      --model_dir="$OUT/$ablation-seed$seed" --params_override="$DATA_OVERRIDE,train.lr_schedule=poly"
  done
  python -m experiments.train "${COMMON[@]}" --ablation=li_mnv2_li_aspp --seed="$seed" \
    --train_steps="$FINETUNE_STEPS" --finetune=li_only --init_checkpoint="$OUT/li_mnv2_li_aspp-seed$seed" \
    --model_dir="$OUT/li_mnv2_li_aspp_li_only-seed$seed" --params_override="$DATA_OVERRIDE,train.lr_schedule=constant"
done
