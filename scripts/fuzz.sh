#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ (the `afl` crate, `cargo afl`) on the stable toolchain.
#
#   scripts/fuzz.sh [TARGET...]          run each target (default: all) for FUZZ_EXECS executions
#   FUZZ_AFTER_ONLY=1 scripts/fuzz.sh T  only the step after a run (regressions, corpus, figures)
#
# Targets: push_body merge_changes printer_status catalog_csv store_file (fuzz/src, one
# function each; fuzz/afl has their AFL++ binaries). For each target, one after the other on
# one core, under `nice -n 10`: the checked-in corpus (fuzz/corpora/<target>) and fresh seeds
# made by the real code (`fuzz-seeds`) are the input; AFL++ runs until FUZZ_EXECS executions
# (default 1,000,000) or FUZZ_MAX_SECS seconds (default 2400); then, with FUZZ_MINIMIZE=1
# (default), the queue is minimized with AFL++'s afl-cmin into fuzz/corpora/<target>, and any
# crash or hang is copied to fuzz/regressions/<target>/ for a test named after what it found.
# The figures (executions, execs/s, time, paths, edges, crashes, hangs) are appended to
# $FUZZ_OUT/summary.tsv and printed.
#
# Installs what it needs: Debian's gcc, make and python3 when `dpkg -s` says they are missing
# (to build AFL++'s runtime), cargo-afl when absent, and AFL++'s runtime for this rustc.
# Environment: FUZZ_EXECS, FUZZ_MAX_SECS, FUZZ_TIMEOUT_MS (per input, default 2000),
# FUZZ_MINIMIZE, FUZZ_CORPUS_MAX_BYTES (checked in per target, smallest inputs first, default
# 150000), FUZZ_OUT (default /var/tmp/pos-fuzz-out), FUZZ_TARGET_DIR (the instrumented
# build, default /var/tmp/pos-fuzz-afl-target).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ALL=(push_body merge_changes printer_status catalog_csv store_file)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
EXECS="${FUZZ_EXECS:-1000000}"
MAX_SECS="${FUZZ_MAX_SECS:-2400}"
TIMEOUT_MS="${FUZZ_TIMEOUT_MS:-2000}"
MINIMIZE="${FUZZ_MINIMIZE:-1}"
OUT="${FUZZ_OUT:-/var/tmp/pos-fuzz-out}"
CORPUS_MAX_BYTES="${FUZZ_CORPUS_MAX_BYTES:-150000}"
AFL_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/pos-fuzz-afl-target}"
CARGO_AFL_VERSION=0.18.2

# --- what it needs ------------------------------------------------------------------------
missing=()
for p in gcc make python3; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! cargo afl --version 2>/dev/null | grep -q "cargo-afl $CARGO_AFL_VERSION"; then
  echo "installing cargo-afl $CARGO_AFL_VERSION"
  cargo install cargo-afl --version "$CARGO_AFL_VERSION" --locked
fi
# AFL++'s runtime for this rustc (built once per toolchain; "already built" is fine).
if ! out="$(cargo afl config --build 2>&1)"; then
  grep -q "already built" <<<"$out" || { echo "$out" >&2; exit 1; }
fi

# --- build --------------------------------------------------------------------------------
for t in "${TARGETS[@]}"; do
  printf '%s\n' "${ALL[@]}" | grep -qx "$t" || { echo "unknown target $t (${ALL[*]})" >&2; exit 2; }
done
echo "building the instrumented targets (cargo afl build --release)"
CARGO_TARGET_DIR="$AFL_TARGET_DIR" nice -n 10 cargo afl build --release --quiet \
  --manifest-path fuzz/afl/Cargo.toml
echo "building fuzz-seeds"
cargo build --quiet -p pos-fuzz --bin fuzz-seeds
SEEDS="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/fuzz-seeds"

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_SKIP_CRASHES=1 AFL_NO_AFFINITY=1
mkdir -p "$OUT"
[ -f "$OUT/summary.tsv" ] || printf 'date\ttarget\texecs\texecs_per_sec\tseconds\tpaths\tedges\tcoverage\tcrashes\thangs\tcorpus_files\tcorpus_bytes\n' > "$OUT/summary.tsv"

stat_of() { grep -E "^$1 +:" "$2" | sed -E 's/^[^:]+: *//'; }

# The AFL++ tools cargo-afl built for this rustc (afl-cmin.bash wants afl-showmap on PATH).
rustc_dir="rustc-$(rustc -V | cut -d' ' -f2)-$(rustc -V | cut -d' ' -f3 | tr -d '(' | cut -c1-7)"
AFL_BIN="$(dirname "$(find "${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs/$rustc_dir" \
  -path '*/afl/bin/afl-showmap' | head -1)")"
[ -x "$AFL_BIN/afl-cmin.bash" ] || { echo "no afl-cmin.bash under $AFL_BIN" >&2; exit 1; }

# After a run: crashes and hangs to fuzz/regressions, the queue minimized into fuzz/corpora,
# the figures into the summary.
after() {
  local t="$1" bin="$AFL_TARGET_DIR/release/$1" work="$OUT/$1"
  local stats="$work/out/default/fuzzer_stats" crashes hangs files bytes
  crashes=$(ls "$work/out/default/crashes" 2>/dev/null | grep -c '^id' || true)
  hangs=$(ls "$work/out/default/hangs" 2>/dev/null | grep -c '^id' || true)
  mkdir -p "fuzz/regressions/$t"
  for kind in crashes hangs; do
    for f in "$work/out/default/$kind"/id*; do
      [ -e "$f" ] || continue
      cp "$f" "fuzz/regressions/$t/${kind%es}-$(sha1sum "$f" | cut -c1-12)"
    done
  done
  if [ "$MINIMIZE" = 1 ]; then
    rm -rf "$work/cmin"
    (cd "$work" && PATH="$AFL_BIN:$PATH" nice -n 10 "$AFL_BIN/afl-cmin.bash" \
      -i "$work/out/default/queue" -o "$work/cmin" -t "$TIMEOUT_MS" -- "$bin") \
      > "$work/cmin.log" 2>&1 || { tail -c 2000 "$work/cmin.log" >&2; exit 1; }
    # Checked in smallest first, up to FUZZ_CORPUS_MAX_BYTES a target (store files are tens of
    # KB each); the whole minimized corpus stays in $work/cmin.
    rm -rf "fuzz/corpora/$t"; mkdir -p "fuzz/corpora/$t"
    local total=0 size
    while read -r size f; do
      [ $((total + size)) -le "$CORPUS_MAX_BYTES" ] || continue
      total=$((total + size))
      cp "$f" "fuzz/corpora/$t/$(sha1sum "$f" | cut -c1-12)"
    done < <(find "$work/cmin" -type f -printf '%s %p\n' | sort -n)
  fi
  files=$(ls "fuzz/corpora/$t" 2>/dev/null | wc -l)
  bytes=$(cat fuzz/corpora/"$t"/* 2>/dev/null | wc -c)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" \
    "$(stat_of execs_done "$stats")" "$(stat_of execs_per_sec "$stats")" \
    "$(stat_of run_time "$stats")" "$(stat_of corpus_count "$stats")" \
    "$(stat_of edges_found "$stats")" "$(stat_of bitmap_cvg "$stats")" \
    "$crashes" "$hangs" "$files" "$bytes" | tee -a "$OUT/summary.tsv"
}

for t in "${TARGETS[@]}"; do
  if [ -n "${FUZZ_AFTER_ONLY:-}" ]; then after "$t"; continue; fi
  bin="$AFL_TARGET_DIR/release/$t"
  work="$OUT/$t"
  rm -rf "$work"; mkdir -p "$work/in"
  "$SEEDS" "$t" "$work/in"
  if [ -d "fuzz/corpora/$t" ]; then cp fuzz/corpora/"$t"/* "$work/in/" 2>/dev/null || true; fi
  echo "== $t: $(ls "$work/in" | wc -l) inputs, until $EXECS executions (at most ${MAX_SECS}s)"
  nice -n 10 cargo afl fuzz -i "$work/in" -o "$work/out" -E "$EXECS" -V "$MAX_SECS" \
    -t "$TIMEOUT_MS" -- "$bin" > "$work/afl.log" 2>&1 || { tail -40 "$work/afl.log" >&2; exit 1; }
  after "$t"
done
column -t -s $'\t' "$OUT/summary.tsv"
