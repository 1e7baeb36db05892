#!/bin/sh
# Every error code of proto/pu_err.h is in PROTOCOL.md §9 with its number, and no other.
# Usage: check_protocol_errors.sh pu_err.h PROTOCOL.md
set -eu
codes=$(sed -n 's/.*X(\(PU_[A-Z0-9_]*\), *\(-\{0,1\}[0-9]*\),.*/\2 \1/p' "$1")
fail=0
n=0
echo "$codes" | while read -r num name; do
	grep -q "^| $num | \`$name\` |" "$2" || { echo "PROTOCOL.md lacks $name ($num)"; exit 1; }
done || fail=1
n=$(echo "$codes" | wc -l)
documented=$(grep -c '^| -\{0,1\}[0-9]* | `PU_' "$2")
[ "$documented" -eq "$n" ] || { echo "PROTOCOL.md lists $documented codes, pu_err.h has $n"; fail=1; }
[ "$fail" -eq 0 ] && echo "$n passed, 0 failed"
exit "$fail"
