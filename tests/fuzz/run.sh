#!/bin/sh
# run.sh - fuzz every target for a while and report what it found:
#
#   sh tests/fuzz/run.sh BUILD_DIR SECONDS      (BUILD_DIR configured with -DPUENTE_FUZZ=ON)
#
# Each BUILD_DIR/tests/fuzz_NAME runs for SECONDS. libFuzzer adds the inputs it finds to its
# first folder, so that is a scratch one (BUILD_DIR/tests/fuzz-scratch/NAME, kept between
# runs) and the seeds in tests/corpus/NAME come second and are never written. Crash inputs go
# to BUILD_DIR/tests/fuzz-crashes/NAME/; one becomes tests/corpus/NAME/regress-WHAT with its
# fix. Exit status: 0 when no target crashed, 1 when one did, 64 usage, 66 no fuzz build.
set -u

targets="frame header chunk directory config casejson note proof"

usage() {
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 64
}

[ $# -eq 2 ] || usage
build=$1
seconds=$2
case $seconds in
'' | *[!0-9]*) usage ;;
esac
corpus=$(cd "$(dirname "$0")/../corpus" && pwd) || exit 66

for name in $targets; do
	if [ ! -x "$build/tests/fuzz_$name" ]; then
		echo "run.sh: no $build/tests/fuzz_$name: configure with" \
		    "CC=clang-14 cmake -S . -B $build -DPUENTE_FUZZ=ON, then build" >&2
		exit 66
	fi
done

crashed=""
for name in $targets; do
	scratch=$build/tests/fuzz-scratch/$name
	crashes=$build/tests/fuzz-crashes/$name
	log=$build/tests/fuzz-$name.log
	mkdir -p "$scratch" "$crashes"
	start=$build/tests/.fuzz-$name.start	# crash files older than it are not ours
	: >"$start"
	# -timeout: an input that takes this long is a finding too (a peer could send it).
	"$build/tests/fuzz_$name" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$crashes/" "$scratch" "$corpus/$name" \
	    >"$log" 2>&1
	status=$?
	# libFuzzer's last progress line: executions, coverage (cov), features (ft), corpus.
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	if [ $status -eq 0 ]; then
		echo "fuzz_$name: ok: $last"
	else
		crashed="$crashed $name"
		echo "fuzz_$name: CRASH (exit $status): $last"
		grep -E 'ERROR: |runtime error:|invariant violated|SUMMARY:' "$log" | head -n 5 |
		    sed 's/^/    /'
		find "$crashes" -type f -newer "$start" | sed 's/^/    input: /'
		echo "    log: $log"
	fi
done

if [ -n "$crashed" ]; then
	echo "run.sh: crashes in:$crashed" >&2
	exit 1
fi
echo "run.sh: no crash in $seconds s per target"
