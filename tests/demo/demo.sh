#!/bin/sh
# make demo: a federation on this machine and the three journeys Puente exists for, played
# with the real commands (puente-keys, puente-gateway, puente) and narrated. Every step is
# checked: the script stops at the first one that does not do what it says, so ctest runs
# it as the journeys' end-to-end test (test_demo). Run from the project root after a build.
# Everything it creates is under $DEMO_DIR (build/demo) and is generated and fictional.
# DEMO_KEEP=1 leaves the gateway running at the end.
set -eu

root=$(pwd)
bin=${DEMO_BIN:-$root/build}
out=${DEMO_DIR:-$root/build/demo}
keys=$bin/keys/puente-keys
gateway=$bin/gateway/puente-gateway
puente=$bin/client/puente
fed=$out/fed
TLA=MX-TLA-PPNNA NLE=MX-NLE-PPNNA TAB=MX-TAB-PPNNA FED=MX-FED-PFPNNA AUD=MX-FED-AUDITORIA
GW=MX-CMX-GW01
CASE=MX-2026-7F3K9Q
gw_pid=

step=0
say() { step=$((step + 1)); printf '  %2d. %s\n' "$step" "$*"; }
show() { printf '      $ %s\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }
# puente AGENCY ARGS...: run the command as that agency, showing it; output in $out/last.*
as() {
	who=$1; shift
	show "PUENTE_AGENCY=.../$who puente $*"
	PUENTE_AGENCY=$fed/agencies/$who "$puente" "$@" >"$out/last.out" 2>"$out/last.err" && rc=0 || rc=$?
	sed 's/^/        /' "$out/last.out" "$out/last.err"
	return 0
}
expect() { [ "$rc" -eq "$1" ] || fail "$2 (exit $rc, expected $1)"; }
said() { grep -q -- "$1" "$out/last.out" "$out/last.err" || fail "expected \"$1\""; }
msg_of() { sed -n 's/.*"msg_id":"\([0-9a-f]*\)".*/\1/p' "$out/last.out" | head -n 1; }
stop_gateway() {
	[ -n "$gw_pid" ] || return 0
	kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
	gw_pid=
}
trap stop_gateway EXIT INT TERM

echo "Puente demo - all data below is generated and fictional."
echo
echo "== The protocol library: sealing and opening a case file"
rm -rf "$out" && mkdir -p "$out"
"$bin/tests/puente-demo-seal" "$out/library"

echo
echo "== A federation on this machine"
port=${DEMO_PORT:-$((20000 + $$ % 6000 * 2))}
"$keys" init --dir "$fed" --name "Federacion de demostracion" --insecure-no-passphrase >/dev/null
for a in "$TLA state Procuraduria de Tlaxcala (demo)" "$NLE state Procuraduria de Nuevo Leon (demo)" \
    "$TAB state Procuraduria de Tabasco (demo)" "$FED federal Procuraduria Federal (demo)" \
    "$AUD auditor Organo de auditoria (demo)"; do
	set -- $a
	id=$1 role=$2; shift 2
	"$keys" add-agency --dir "$fed" --id "$id" --role "$role" --name "$*" >/dev/null
done
"$keys" add-agency --dir "$fed" --id "$GW" --role gateway --name "Pasarela (demo)" \
    --address "127.0.0.1:$port" >/dev/null
say "puente-keys made a federation root, an X.509 CA and a signed directory of $TLA, $NLE, $TAB, $FED, $AUD and the gateway $GW"
cat >"$out/gateway.conf" <<EOF
listen 127.0.0.1:$port
metrics_listen 127.0.0.1:$((port + 1))
identity_dir fed/agencies/$GW
data_dir data
log_level info
EOF
"$gateway" -c "$out/gateway.conf" 2>"$out/gateway.log" &
gw_pid=$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	grep -q 'event=listening' "$out/gateway.log" && break
	kill -0 "$gw_pid" 2>/dev/null || fail "the gateway did not start: $(tail -n 1 "$out/gateway.log")"
	sleep 0.5
done
grep -q 'event=listening' "$out/gateway.log" || fail "the gateway did not start"
say "puente-gateway listens on 127.0.0.1:$port (TLS 1.3, mutual authentication)"

# The case files: the annotated example, and small ones for the other journeys.
cp client/examples/case-transfer.json "$out/case-transfer.json"
for f in acta-nacimiento plan-restitucion historial-acogimiento; do
	printf '%%PDF-1.4\n%% %s - documento de EJEMPLO, ficticio\n%%%%EOF\n' "$f" >"$out/$f.pdf"
done
small() {
	printf '{"type": "%s", "case_id": "%s", "summary": "%s", "%s": {}}\n' "$1" "$2" "$3" "$1" \
	    >"$out/$1.json"
}
small follow_up_report "$CASE" "Seguimiento EJEMPLO: la nina se integro a su nueva escuela (ficticio)."
small intl_adoption_review_request MX-2026-TAB0042 "Solicitud de revision de adopcion internacional (EJEMPLO ficticio)."
small federal_decision MX-2026-TAB0042 "Resolucion federal EJEMPLO: procede la adopcion (ficticio)."

echo
echo "== Journey 1 - Tlaxcala transfers a child's case to Nuevo Leon"
as "$TLA" --json send --to "$NLE" "$out/case-transfer.json" "$out/acta-nacimiento.pdf" \
    "$out/plan-restitucion.pdf" "$out/historial-acogimiento.pdf"
expect 0 "the transfer"
transfer=$(msg_of)
say "$TLA sealed the expediente, the Plan de Restitucion, the placement history and three PDFs; the gateway signed its receipt (msg $transfer)"
as "$NLE" inbox
expect 0 "NLE's inbox"; said "$transfer"
say "$NLE sees it waiting: type, sender, case, size - no names"
as "$NLE" fetch "$transfer" --out "$out/received-nle" --staff NLE-TS-0042 --purpose case-assessment
expect 0 "NLE's fetch"
[ -f "$out/received-nle/case.json" ] || fail "case.json was not written"
cmp -s "$out/received-nle/attachment-03.pdf" "$out/historial-acogimiento.pdf" || fail "attachment 3 differs"
say "$NLE verified and opened it (case.json + 3 attachments, mode 0600), sent its signed receipt, and reported staff NLE-TS-0042 opening it for case-assessment"
as "$TAB" fetch "$transfer" --out "$out/received-tab-stray" --staff TAB-TS-0011 --purpose curiosity
expect 65 "an agency the message is not for must not fetch it"
[ ! -e "$out/received-tab-stray" ] || fail "a refused fetch wrote files"
say "$TAB, not a recipient, asks for it: refused, nothing written - and the attempt is audited"
as "$TLA" receipts "$transfer"
expect 0 "TLA's receipts"; said "opened"
say "$TLA sees $NLE's receipt: opened, and the MAC proves it read exactly what was sealed"
as "$NLE" --json reply "$transfer" --type follow-up-report "$out/follow_up_report.json"
expect 0 "the follow-up report"
report=$(msg_of)
as "$TLA" fetch "$report" --out "$out/received-tla" --staff TLA-TS-0007 --purpose follow-up
expect 0 "TLA's fetch of the report"
as "$NLE" receipts "$report"
expect 0 "NLE's receipts"; said "opened"
say "$NLE answered with a follow-up report on the same case; $TLA opened it; both sides see the receipts"

echo
echo "== Journey 2 - an international adoption under federal review"
as "$TAB" send --to "$NLE" "$out/intl_adoption_review_request.json"
expect 65 "a review request without the federal recipient must be refused"; said "must include the federal"
say "$TAB's first attempt omits $FED: the gateway refuses it (nothing stored)"
as "$TAB" --json send --to "$FED" --to "$NLE" "$out/intl_adoption_review_request.json"
expect 0 "the corrected review request"
review=$(msg_of)
as "$NLE" inbox
expect 0 "NLE's inbox"
grep -q "$review" "$out/last.out" && fail "NLE must not see the review before the federal review"
say "corrected, to $FED and $NLE: stored and held - only the federal procuraduria sees it yet"
as "$FED" fetch "$review" --out "$out/received-fed" --staff FED-DGA-0003 --purpose federal-review
expect 0 "FED's fetch"
as "$NLE" fetch "$review" --out "$out/received-nle-review" --staff NLE-TS-0042 --purpose adoption-follow-up
expect 0 "NLE's fetch after the federal review"
say "$FED opened it, which releases it to $NLE"
as "$FED" --json reply "$review" --type federal-decision "$out/federal_decision.json"
expect 0 "the federal decision"
decision=$(msg_of)
as "$TAB" fetch "$decision" --out "$out/received-tab" --staff TAB-TS-0011 --purpose adoption-decision
expect 0 "TAB's fetch of the decision"
say "$FED answered with its decision; $TAB received and opened it"
as "$NLE" send --to "$TAB" "$out/federal_decision.json"
expect 65 "a state must not send a federal decision"
say "$NLE, a state, tries to send a federal decision: refused before it leaves (policy)"

echo
echo "== Journey 3 - the auditor traces the case and verifies the log"
as "$AUD" audit trace --case "$CASE" --html "$out/report-$CASE.html" --purpose annual-review
expect 0 "the trace"; said "open"; said "NLE-TS-0042"; said "PU_ERR_NOT_QUEUED"
said "the chain is unbroken"
say "every send, fetch, open (with staff id and purpose), receipt and refusal of case $CASE, each proved in a signed checkpoint"
as "$AUD" audit witness --once
expect 0 "the auditor's cosignature"; said "cosigned"
as "$FED" audit witness --once
expect 0 "PFPNNA's cosignature"; said "cosigned"
say "the witnesses (the auditor body and PFPNNA) checked the gateway's newest checkpoint against the one they cosigned last, and cosigned it"
as "$AUD" audit verify --export "$out/audit-export.bin" --purpose annual-review
expect 0 "the verification"; said "audit log verified"; said "cosigned by"
as "$AUD" audit verify --from "$out/audit-export.bin"
expect 0 "the offline verification"
say "the whole log replayed: every hash, every checkpoint, every case chain, up to and past the witnessed checkpoint; the newest is kept in audit.state"
say "the oversight office's page: $out/report-$CASE.html"
# Names, CURPs, addresses, health data and attachment names travel only inside the sealed
# payloads: none is in the gateway's log, nor in the bytes or file names of its data folder.
for s in PUEA150614MTLRJNA3 "Ana Luc" "Calle de Ejemplo" Salbutamol acta-nacimiento-EJEMPLO; do
	grep -r -a -q -F -- "$s" "$out/gateway.log" "$out/data" &&
	    fail "\"$s\" is in the gateway's log or data folder"
	[ -z "$(find "$out/data" -name "*$s*")" ] || fail "\"$s\" names a file in the data folder"
done
say "no name, CURP, address, medication or attachment name of the case in the gateway's log or in its database, WAL and spool, read byte by byte"

echo
echo "Explore:"
echo "  $puente --agency $fed/agencies/$AUD audit trace --case $CASE"
echo "  $keys show --dir $fed --root $fed/root.pub"
echo "  $puente --agency $fed/agencies/$TLA receipts $transfer"
echo "  man ./client/puente.1; sed -n '1,120p' proto/PROTOCOL.md; make test"
if [ "${DEMO_KEEP:-0}" = 1 ]; then
	echo "  the gateway keeps running (pid $gw_pid): curl 127.0.0.1:$((port + 1))/metrics; kill $gw_pid to stop"
	gw_pid=
else
	stop_gateway
	echo "  the gateway was stopped cleanly (DEMO_KEEP=1 leaves it running)"
fi
