#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads outside input, with libFuzzer on the stable
# toolchain (libfuzzer-sys, coverage from rustc's stable -C passes=sancov-module).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s, every target)
# Each target starts from shared/fuzz/corpus/<target> (and regressions/), grows its own working
# corpus under target/fuzz/, and writes any crashing input to target/fuzz/artifacts/<target>/.
# A summary line per target (executions, corpus, findings) goes to target/fuzz/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(stripe_signature stripe_event platform_webhook platform_json config money)
triple="$(rustc -vV | sed -n 's/^host: //p')"
# --target keeps the instrumentation off build scripts; the artifacts stay in the one target dir.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
  cargo build --release --quiet -p tally-fuzz --features libfuzzer --target "$triple"
out=target/fuzz
mkdir -p "$out"
for t in "${targets[@]}"; do
  work="$out/corpus/$t" artifacts="$out/artifacts/$t"
  mkdir -p "$work" "$artifacts"
  seeds=(shared/fuzz/corpus/"$t")
  [ -d shared/fuzz/regressions/"$t" ] && seeds+=(shared/fuzz/regressions/"$t")
  log="$out/$t.log"
  set +e
  "target/$triple/release/fuzz_$t" "$work" "${seeds[@]}" -max_total_time="$seconds" -max_len=65536 \
    -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  found=$(find "$artifacts" -type f | wc -l)
  line="$t: ${seconds}s, ${execs:-?} executions, coverage ${cov:-?} edges, corpus $(ls "$work" | wc -l) inputs, findings $found (exit $status)"
  echo "$line" | tee -a "$out/summary.txt"
done
