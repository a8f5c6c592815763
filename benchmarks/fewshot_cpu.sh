#!/usr/bin/env bash
# A CPU-sized few-shot check through the command line: MIM-pretrained vs scratch U-Net
# (width 16, 1.9 M parameters), fine-tuned on n ACDC training patients (seed 0 picks them),
# 3D Dice on the 40 ACDC test volumes. Prints numbers; not a test.
#   bash benchmarks/fewshot_cpu.sh [DATA=../shared/data] [OUT=runs/fewshot-cpu]
# Set BACKBONE to reuse a pretrained MIM backbone instead of pretraining one (about 20 min on one core).
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-runs/fewshot-cpu}
STEPS=${STEPS:-500}
SHOTS=${SHOTS:-"1 5"}
mkdir -p "$OUT"
if [ -z "${BACKBONE:-}" ]; then
  cardiacssl pretrain --method mim --data "acdc:$DATA/acdc" --data "sunnybrook:$DATA/sunnybrook" \
    --out "$OUT/mim-backbone" --iterations 1000 --batch-size 16 --image-size 128 \
    --features 16,32,64,128,256 --device cpu
  BACKBONE="$OUT/mim-backbone/backbone.safetensors"
fi
for n in $SHOTS; do
  for init in scratch mim; do
    extra=()
    [ "$init" = mim ] && extra=(--init "$BACKBONE")
    cardiacssl finetune "${extra[@]}" --acdc "$DATA/acdc" --acdc-patients "$n" --acdc-val none --seed 0 \
      --steps "$STEPS" --patch-size 128 --out "$OUT/$init-n$n" --device cpu --overwrite
    echo "== $init, n=$n patients, $STEPS steps"
    cardiacssl evaluate --model "$OUT/$init-n$n/model.safetensors" --acdc "$DATA/acdc" --split test --device cpu
  done
done
