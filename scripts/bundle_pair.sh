#!/usr/bin/env bash
# Bundle a pair built elsewhere (`clues demo build --recipe R --seed S --out PAIR`, chosen by
# clues.builders.injection.build_choice) and rerun, in order, everything the bundled pair's numbers come from:
#   copy         PAIR's weights, tokenizer, cards and build.json into assets/demo-models; the README's clue-quality table
#   choose       the training defaults on validation people (docs/defaults.json); stops if clues/settings.py differs
#   injection    the injection report and the scale study on the test people and the paper's biographies (docs/injection*)
#   experiments  the four experiments (docs/results*.md, .json, figures; the README's What the demo shows), each in
#                parts of one torch thread, two at a time, merged when its parts are done
#   pages        the Training page's default comparison timed (bench/page_comparison.py) and the screenshots
# Each step (and each experiment part) leaves out/bundle/NAME.done and its log out/bundle/NAME.log: a second call skips
# what is done, so a session can stop between steps and the next resumes. Steps read the working tree: commit what a
# step wrote before the session ends.
#   bash scripts/bundle_pair.sh PAIR [STEP...]      (default: every step not yet done)
set -euo pipefail
cd "$(dirname "$0")/.."
pair="${1:?usage: bash scripts/bundle_pair.sh PAIR [copy|choose|injection|experiments|pages ...]}"; shift
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(copy choose injection experiments pages)
[ -f "$pair/build.json" ] || { echo "$pair holds no built pair (no build.json): build it with clues demo build --out $pair"; exit 2; }
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=.venv/bin/python
work=out/bundle
mkdir -p "$work"

# The experiments as the committed reports ran them (docs/results*.json's config), each split in two parts of
# conditions that cost about the same; replace-edges is one condition, one part.
part_a="none plain random position attention"
part_b="contrast contrast:paper_mean oracle replace"
declare -A experiment_flags=(
  [results-wider-grid]="--model assets/demo-models/large --people 50 --validation-people 50 --alphas 0.1 0.3 --lrs 0.002 0.001 0.0005"
  [results-large]="--model assets/demo-models/large --people 50 --validation-people 50"
  [results]="--model assets/demo-models/learner --epochs 12"
  [results-replace-edges]="--model assets/demo-models/large --people 50 --validation-people 50 --alphas 0.03 0.1 --lrs 0.0005 0.00025 --epochs 12"
)
experiment_order=(results-wider-grid results-large results results-replace-edges)

done_already() { [ -f "$work/$1.done" ]; }
mark_done() { touch "$work/$1.done"; echo "$(date -u +%H:%M) $1 done"; }

step_copy() {
  for size in large small learner; do rm -rf "assets/demo-models/$size"; cp -r "$pair/$size" "assets/demo-models/$size"; done
  cp "$pair/build.json" "$pair/README.md" assets/demo-models/
  $py - <<'EOF'
import json
from clues.builders.readme import write_section
from clues.clue_quality import summary_markdown
report = json.load(open("assets/demo-models/build.json"))
assert write_section("README.md", "clue-quality", summary_markdown(report["clue_quality"]))
print(f"bundled recipe {report['recipe']}, build seed {report['seed']}: set BUNDLED_RECIPE (and the seed the "
      "README's build command names) in clues/builders/demo_pair.py if they changed")
EOF
}

step_choose() {
  OMP_NUM_THREADS=2 $py -m clues.builders.injection choose > "$work/choose.log" 2>&1
  $py -m pytest -q -p no:cacheprovider tests/test_reported_numbers.py -k "training_defaults" >> "$work/choose.log" 2>&1 || {
    echo "docs/defaults.json chose other defaults than clues/settings.py holds: set them there (the log:"\
         "$work/choose.log), then run the next steps"; exit 1; }
}

step_injection() {  # two processes of about the same length share the report's corpora out
  $py -m clues.builders.injection report --corpora generated paper > "$work/report.log" 2>&1 &
  local report=$!
  { $py -m clues.builders.injection scale && $py -m clues.builders.injection report --corpora paper-other-shots; } \
      > "$work/scale.log" 2>&1
  wait "$report"
  $py -m clues.builders.injection markdown
}

# One part of one experiment: its own folder and run store, no report.
experiment_part() {
  local name=$1 part=$2 conditions=$3
  done_already "$name-$part" && return 0
  rm -rf "$work/$name-$part"
  # shellcheck disable=SC2086  # the flags are words
  $py -m clues experiment --select --seeds 0 1 2 ${experiment_flags[$name]} --conditions $conditions \
      --out "$work/$name-$part" --store "$work/$name-$part/runs.sqlite" --report '' > "$work/$name-$part.log" 2>&1
  mark_done "$name-$part"
}

step_experiments() {
  local jobs=()
  for name in "${experiment_order[@]}"; do
    if [ "$name" = results-replace-edges ]; then jobs+=("$name a replace")
    else jobs+=("$name a $part_a" "$name b $part_b"); fi
  done
  local running=()
  for job in "${jobs[@]}"; do  # two parts at a time, in order
    read -r name part conditions <<< "$job"
    experiment_part "$name" "$part" "$conditions" &
    running+=($!)
    if [ ${#running[@]} -ge 2 ]; then wait "${running[0]}"; running=("${running[@]:1}"); fi
  done
  for pid in "${running[@]}"; do wait "$pid"; done
  for name in "${experiment_order[@]}"; do
    local parts=("$work/$name-a"); [ -d "$work/$name-b" ] && parts+=("$work/$name-b")
    $py -m clues experiment --merge "${parts[@]}" --report "docs/$name.md" > "$work/$name-merge.log" 2>&1
  done
}

step_pages() {
  $py bench/page_comparison.py > "$work/page_comparison.log" 2>&1
  bash scripts/refresh_screenshots.sh > "$work/screenshots.log" 2>&1
}

main() {
  for step in "${steps[@]}"; do
    declare -F "step_$step" > /dev/null || { echo "no step $step: one of copy choose injection experiments pages"; exit 2; }
    done_already "$step" && { echo "$step: done already ($work/$step.done)"; continue; }
    echo "$(date -u +%H:%M) $step …"
    "step_$step"
    mark_done "$step"
  done
}
# One line: bash has read all of it before it runs, so the file may change under a long run.
main; exit
