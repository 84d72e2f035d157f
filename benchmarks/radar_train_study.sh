#!/usr/bin/env bash
# Radar training study (docs/results/mranet.md, "Which defaults train well on a CPU budget?"):
# MRA-Net against the baselines and training variants, on the default and the realistic
# simulated sets, person-independent (subject-wise folds), paired by split and seed.
#
# Usage: [DB=40] [ONLY=regex] benchmarks/radar_train_study.sh OUT [EPOCHS] [SEEDS] [FOLDS] [JOBS] [SIZE]
#   OUT     new folder for data and runs; EPOCHS per run (default 30); SEEDS (default 0,1,2);
#   FOLDS   subject-wise folds to run (default 0,1,2,3,4); JOBS parallel trainings (default 2);
#   SIZE    "small" (50 x 75 frames, 3 recordings per cell), "full" (100 x 150 frames, the
#           paper's Table 3 counts) or "lowres" (50 x 75 frames, Table 3 counts).
#   DB      the dB range of the main sets' frames (default: the processing configs', 60 dB;
#           the sections measured before it became the default ran with DB=40). The sets
#           <set>_dr40 are the same data over 40 dB, the per-frame control of the dB range.
# Every run is an ordinary harlab cv study under OUT/runs/<dataset>/<variant>; compare any two
# with `harlab compare OUT/runs/D/A OUT/runs/D/B`. The comparisons of the results page are
# written to OUT/compare.txt at the end.
set -euo pipefail
OUT=${1:?usage: radar_train_study.sh OUT [EPOCHS] [SEEDS] [FOLDS] [JOBS] [SIZE]}
EPOCHS=${2:-30}; SEEDS=${3:-0,1,2}; FOLDS=${4:-0,1,2,3,4}; JOBS=${5:-2}; SIZE=${6:-small}
HARLAB=${HARLAB:-harlab}; PYTHON=${PYTHON:-python}  # the Python that has harlab
mkdir -p "$OUT"
case "$SIZE" in small|full|lowres) ;; *) echo "SIZE must be small, full or lowres" >&2; exit 2;; esac
if [ "$SIZE" = small ]; then REC="--recordings 3"; else REC=""; fi

processing() {  # $1 = default | realistic; $2 = extra line (or empty) -> a processing YAML
  local f="$OUT/processing_$1$3.yaml"
  sed -e "s/^mti: none$/mti: none\n$2/" configs/radar/processing_"$1".yaml > "$f"
  [ -n "${DB:-}" ] && sed -i "s/^dynamic_range_db: .*$/dynamic_range_db: $DB/" "$f"
  if [ "$SIZE" != full ]; then
    sed -i 's/^frame_height: 100.*$/frame_height: 50/; s/^frame_width: 150.*$/frame_width: 75/' "$f"
  fi
  echo "$f"
}
simulate() {  # $1 = folder name, $2 = simulation config, $3 = processing YAML
  [ -d "$OUT/data/$1" ] && return 0
  grep -q "^$1|" "$OUT/jobs.txt" || return 0  # no job trains on this set
  mkdir -p "$OUT/data"
  $HARLAB simulate radar --config "configs/radar/$2" --processing "$3" $REC --workers 1 \
    --no-progress --out "$OUT/data/$1" > "$OUT/data/$1.log"
}
CH='model.options.channels=[8,16,32]'
NEW="--lr 0.001 --batch-size 64"      # measured: trains; the configs had lr 1e-4, batch 128
OLD="--lr 0.0001 --batch-size 128"
AUG='train.augment={time_shift: 0.1, doppler_shift: 2, noise_std: 0.02}'
variants() {  # one line per variant "name|config|options", most important first
  echo "mranet_lr1e-3|mranet_activity.yaml|$NEW --set '$CH'"
  echo "dcnn5|baseline_dcnn5_identity.yaml|$NEW --set 'task.heads=[activity]'"
  echo "mranet_lr1e-4|mranet_activity.yaml|$OLD --set '$CH'"
  echo "dcnn5_lr1e-4|baseline_dcnn5_identity.yaml|$OLD --set 'task.heads=[activity]'"
  echo "mranet_augment|mranet_activity.yaml|$NEW --set '$CH' --set '$AUG'"
  echo "lstm|baseline_lstm_activity.yaml|$NEW"
  echo "cae|baseline_cae_activity.yaml|$NEW"
  echo "dcnn3|baseline_dcnn3_activity.yaml|$NEW"
}
{
  variants | while IFS= read -r v; do
    for d in default realistic; do echo "$d|$v"; done
    case "$v" in mranet_lr1e-3*|dcnn5\|*) echo "realistic_notch|$v";; esac
  done
  # person identification (needs every person in training: whole recordings held out, the
  # config's recording split, one per seed), without and with augmentation
  ID="$NEW --set 'task.heads=[identity]' --set '$CH' --split recording"
  echo "default|identity_plain|mranet_activity.yaml|$ID"
  echo "default|identity_augment|mranet_activity.yaml|$ID --set '$AUG'"
} > "$OUT/jobs.txt"
# frame scaling (issue 28 point 6): the [0, 1] frames as stored (each frame to its own
# maximum) against a dB ceiling and range fitted on the training frames' levels
SCALE="--set data.frame_scale=train"
for d in default realistic; do
  P='--set data.frame_ceiling_percentile'; R='--set data.frame_range_db'
  for s in "scale_train|$P=99 $R=40" "scale_train_60db|$P=99 $R=60" \
           "scale_train_p95|$P=95 $R=40"; do
    IFS='|' read -r sv so <<< "$s"
    echo "$d|mranet_$sv|mranet_activity.yaml|$NEW --set '$CH' $SCALE $so"
    echo "$d|dcnn5_$sv|baseline_dcnn5_identity.yaml|$NEW --set 'task.heads=[activity]' $SCALE $so"
  done
  echo "${d}_dr40|mranet_lr1e-3|mranet_activity.yaml|$NEW --set '$CH'"
  echo "${d}_dr40|dcnn5|baseline_dcnn5_identity.yaml|$NEW --set 'task.heads=[activity]'"
done >> "$OUT/jobs.txt"

# --- training variants (docs/results/mranet.md, "Schedule, regularisation, JMI-CNN and the
# joint task"): lr schedule, label smoothing, MRA-Net's dropout, JMI-CNN; and the joint
# activity + identity task (FLWL input raw vs unit, joint vs identity-only) on the default set
train_variants() {  # "name|config|options", activity and person-independent
  echo "mranet_cosine|mranet_activity.yaml|$NEW --set '$CH' --set train.lr_schedule=cosine"
  echo "mranet_smooth0.1|mranet_activity.yaml|$NEW --set '$CH' --set train.label_smoothing=0.1"
  echo "mranet_dropout0|mranet_activity.yaml|$NEW --set '$CH' --set model.options.dropout=0.0"
  echo "jmi_cnn|baseline_jmi_cnn_multitask.yaml|$NEW --set 'task.heads=[activity]'"
}
{
  train_variants | while IFS= read -r v; do
    for d in realistic default; do echo "$d|$v"; done
  done
  # joint runs need every person in training: whole recordings held out, as identity_plain
  JOINT="$NEW --set '$CH' --split recording"
  echo "default|joint_flwl_raw|mranet_flwl.yaml|$JOINT --set task.flwl_input=raw"
  echo "default|joint_flwl_unit|mranet_flwl.yaml|$JOINT --set task.flwl_input=unit"
  echo "default|jmi_cnn_joint|baseline_jmi_cnn_multitask.yaml|$NEW --split recording"
  # does the usual regularisation close identity's train/test gap?
  IDONLY="$JOINT --set 'task.heads=[identity]'"
  echo "default|identity_smooth0.1|mranet_activity.yaml|$IDONLY --set train.label_smoothing=0.1"
  echo "default|identity_cosine|mranet_activity.yaml|$IDONLY --set train.lr_schedule=cosine"
} >> "$OUT/jobs.txt"

# --- why MRA-Net loses to dcnn5 at the paper's size (docs/results/mranet.md, "Why does
# MRA-Net lose to dcnn5: depth or parameters?"): depth and parameters varied one at a time
{
  echo "realistic|mranet_5blocks|mranet_activity.yaml|$NEW --set 'model.options.channels=[8,16,32,32,32]'"
  echo "realistic|dcnn5_3blocks|baseline_dcnn5_identity.yaml|$NEW --set 'task.heads=[activity]' --set 'model.options.channels=[16,32,64]'"
  echo "realistic|mranet_wide|mranet_activity.yaml|$NEW --set 'model.options.channels=[16,32,64]'"
} >> "$OUT/jobs.txt"

# ONLY (a regex over the lines "data|variant|config|options"): run just the matching jobs,
# e.g. ONLY='^(default|realistic)(_dr40)?\|(mranet_lr1e-3|dcnn5|(mranet|dcnn5)_scale_train\w*)\|'
if [ -n "${ONLY:-}" ]; then grep -E "$ONLY" "$OUT/jobs.txt" > "$OUT/jobs.only" || true
  mv "$OUT/jobs.only" "$OUT/jobs.txt"; fi

# the sets the jobs train on: default, realistic, realistic with the zero-Doppler notch, and
# the first two scaled over 40 dB per frame (harlab's range before issue 28's study), the
# per-frame control of the dB range
dr40() { local f; f=$(processing "$1" '' _dr40)
  sed -i 's/^dynamic_range_db: .*$/dynamic_range_db: 40.0/' "$f"; echo "$f"; }
simulate default simulate_default.yaml "$(processing default '' '')"
simulate realistic simulate_realistic.yaml "$(processing realistic '' '')"
simulate realistic_notch simulate_realistic.yaml \
  "$(processing realistic 'zero_doppler_notch_ms: 0.4' _notch)"
simulate default_dr40 simulate_default.yaml "$(dr40 default)"
simulate realistic_dr40 simulate_realistic.yaml "$(dr40 realistic)"

run_one() {  # one line of jobs.txt
  IFS='|' read -r data name config opts <<< "$1"
  local dir="$OUT/runs/$data/$name"
  [ -e "$dir/.done" ] && return 0
  mkdir -p "$dir"
  local split="--split subject --folds $FOLDS"
  case "$opts" in *"--split "*) split="";; esac
  eval "$HARLAB cv configs/mranet/$config --path $OUT/data/$data $split \
    --seeds $SEEDS --epochs $EPOCHS --threads 1 --no-progress --out $dir \
    --set train.patience=null $opts" > "$dir.log" 2>&1 && touch "$dir/.done"
}
export -f run_one; export OUT FOLDS SEEDS EPOCHS HARLAB
xargs -a "$OUT/jobs.txt" -d '\n' -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} || echo "some runs failed: see $OUT/runs/*/*.log"

{
  for d in default realistic; do
    for m in mranet dcnn5; do
      b="$OUT/runs/$d/$m"; [ $m = mranet ] && b="$b"_lr1e-3
      for v in scale_train scale_train_60db scale_train_p95; do
        a="$OUT/runs/$d/${m}_$v"
        [ -e "$a/.done" ] && [ -e "$b/.done" ] || continue
        echo "== $d: $m, $v minus stored (per-frame) frames"
        $HARLAB compare "$a" "$b" --out "$OUT/compare_scale"
      done
      c="$OUT/runs/${d}_dr40/${m}"; [ $m = mranet ] && c="$c"_lr1e-3
      if [ -e "$b/.done" ] && [ -e "$c/.done" ]; then
        echo "== $d: $m, per frame: the main sets' range minus 40 dB"
        $HARLAB compare "$b" "$c" --out "$OUT/compare_scale"
      fi
    done
    for v in "$OUT/runs/$d"/*_scale_train*/; do  # share of pixels above each floor
      [ -e "$v/.done" ] && $PYTHON benchmarks/radar_frame_floor.py "$OUT/data/$d" "$v"/*/*_seed*/
    done
    [ -d "$OUT/data/${d}_dr40" ] && $PYTHON benchmarks/radar_frame_floor.py "$OUT/data/${d}_dr40"
  done
} > "$OUT/compare_scale.txt" 2>&1
cmp() {  # $1 = set, $2 = A, $3 = B: A minus B (a side not run is reported, not fatal)
  echo "== $1: $2 minus $3"
  $HARLAB compare "$OUT/runs/$1/$2" "$OUT/runs/$1/$3" --out "$OUT/compare" || true
}
{
  for d in default realistic; do
    for b in dcnn5 dcnn3 lstm cae jmi_cnn mranet_lr1e-4 mranet_augment; do
      cmp "$d" mranet_lr1e-3 "$b"
    done
    cmp "$d" dcnn5 dcnn5_lr1e-4
  done
  cmp default identity_augment identity_plain
  for m in mranet_lr1e-3 dcnn5; do
    echo "== realistic: $m, notch minus no notch"
    $HARLAB compare "$OUT/runs/realistic_notch/$m" "$OUT/runs/realistic/$m" --out "$OUT/compare" \
      || true
  done
  for d in realistic default; do  # the training variants
    for v in mranet_cosine mranet_smooth0.1 mranet_dropout0; do cmp "$d" "$v" mranet_lr1e-3; done
  done
  cmp default joint_flwl_unit joint_flwl_raw
  cmp default joint_flwl_raw identity_plain
  cmp default joint_flwl_unit identity_plain
  cmp default joint_flwl_raw jmi_cnn_joint
  for v in identity_smooth0.1 identity_cosine; do cmp default "$v" identity_plain; done
  cmp realistic mranet_5blocks mranet_lr1e-3
  cmp realistic mranet_5blocks dcnn5
  cmp realistic dcnn5_3blocks dcnn5
  cmp realistic dcnn5_3blocks mranet_lr1e-3
  cmp realistic mranet_wide mranet_lr1e-3
} > "$OUT/compare.txt" 2>&1
echo "done: $OUT/compare.txt and $OUT/compare_scale.txt"
