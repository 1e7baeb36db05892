#!/bin/sh
# test_keys.sh - puente-keys end to end on real files, checked with standard tools.
# Usage: test_keys.sh PATH/TO/puente-keys WORKDIR
set -eu
K=$1
W=$2
rm -rf "$W"
mkdir -p "$W"
cd "$W"
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE PATTERN CMD...: exit status CODE and PATTERN on stderr (one line).
expect() {
	code=$1 pattern=$2
	shift 2
	set +e
	"$@" >out.txt 2>err.txt
	got=$?
	set -e
	if [ "$got" -ne "$code" ]; then
		bad "$* exited $got, wanted $code: $(cat err.txt)"
	elif ! grep -q -- "$pattern" err.txt out.txt; then
		bad "$* did not say \"$pattern\": $(cat err.txt out.txt)"
	else
		ok "$* -> $code ($pattern)"
	fi
}

mode() { stat -c %a "$1"; }
serial() { "$K" show --dir "$1" | sed -n 's/^serial: //p'; }

# --- a federation protected by a passphrase
export PUENTE_PASSPHRASE="frase de prueba, no secreta"
expect 0 "created federation" "$K" init --dir fed --name "Federacion de prueba"
for f in root.key ca.key; do
	[ "$(mode fed/$f)" = 600 ] && ok "$f is 0600" || bad "$f is $(mode fed/$f)"
done
[ "$(mode fed)" = 700 ] && ok "federation folder is 0700" || bad "folder is $(mode fed)"
sum=$(cat fed/* 2>/dev/null | sha256sum)
expect 73 "already there" "$K" init --dir fed --name "Otra"
[ "$(cat fed/* 2>/dev/null | sha256sum)" = "$sum" ] && ok "init refused without touching files" ||
	bad "init over an existing federation changed files"
expect 0 "added MX-TLA-PPNNA" "$K" add-agency --dir fed --id MX-TLA-PPNNA --role state --name "PPNNA Tlaxcala"
expect 0 "added MX-NLE-PPNNA" "$K" add-agency --dir fed --id MX-NLE-PPNNA --role state --name "PPNNA Nuevo Leon" --state NLE
expect 0 "added MX-FED-PFPNNA" "$K" add-agency --dir fed --id MX-FED-PFPNNA --role federal --name "PFPNNA"
expect 0 "added MX-FED-AUDITORIA" "$K" add-agency --dir fed --id MX-FED-AUDITORIA --role auditor --name "Auditoria"
expect 0 "added MX-CMX-GW01" "$K" add-agency --dir fed --id MX-CMX-GW01 --role gateway --name "Pasarela" --address 127.0.0.1:7443
[ "$(serial fed)" = 6 ] && ok "serial is 6 after five additions" || bad "serial $(serial fed)"

# --- wrong passphrase: refused, nothing half-written
s=$(serial fed)
PUENTE_PASSPHRASE=wrong expect 77 "wrong passphrase" "$K" add-agency --dir fed --id MX-TAB-PPNNA --role state --name "PPNNA Tabasco"
[ ! -e fed/agencies/MX-TAB-PPNNA ] && [ "$(serial fed)" = "$s" ] && ok "no folder, no new serial after a wrong passphrase" ||
	bad "wrong passphrase left traces"
ls fed/agencies | grep -q tmp && bad "staging folder left behind" || ok "no staging folder left"

# --- file modes of an agency folder
a=fed/agencies/MX-TLA-PPNNA
for f in signing.key encryption.key tls.key; do
	[ "$(mode $a/$f)" = 600 ] && ok "$f is 0600" || bad "$f is $(mode $a/$f)"
done
[ ! -e fed/agencies/MX-FED-AUDITORIA/encryption.key ] && ok "auditor has no encryption key" || bad "auditor has an encryption key"
for f in receipt.key checkpoint.key tls.key tls.crt; do
	[ -e fed/agencies/MX-CMX-GW01/$f ] && ok "gateway has $f" || bad "gateway lacks $f"
done

# --- witnesses: the auditor body and PFPNNA cosign checkpoints with witness.key
for id in MX-FED-AUDITORIA MX-FED-PFPNNA; do
	f=fed/agencies/$id/witness.key
	[ -e $f ] && [ "$(mode $f)" = 600 ] && ok "$id has witness.key, 0600" || bad "$id witness.key"
done
for id in MX-TLA-PPNNA MX-NLE-PPNNA MX-CMX-GW01; do
	[ ! -e fed/agencies/$id/witness.key ] && ok "$id has no witness.key" || bad "$id has a witness.key"
done
"$K" show --dir fed | grep -qx "witnesses: MX-FED-PFPNNA MX-FED-AUDITORIA" && ok "show lists the witnesses" ||
	bad "witnesses: $("$K" show --dir fed | grep witnesses)"
"$K" show --dir fed | sed -n '/^MX-FED-AUDITORIA/,/^$/p' | grep -c "CHECKPOINT.*ACTIVE" | grep -qx 1 &&
	ok "the auditor's witness key is in the directory" || bad "no witness key listed for the auditor"

# --- certificates, checked with openssl
openssl verify -CAfile fed/ca.crt $a/tls.crt >/dev/null && ok "openssl verifies the agency certificate" || bad "openssl refuses the certificate"
openssl verify -CAfile fed/ca.crt fed/agencies/MX-CMX-GW01/tls.crt >/dev/null && ok "openssl verifies the gateway certificate" || bad "gateway certificate"
openssl x509 -in $a/tls.crt -noout -ext subjectAltName | grep -q "URI:urn:puente:agency:MX-TLA-PPNNA" && ok "SAN names the agency" || bad "SAN"
openssl x509 -in $a/tls.crt -noout -subject | grep -q "CN = MX-TLA-PPNNA" && ok "CN names the agency" || bad "CN"
openssl x509 -in $a/tls.crt -noout -ext extendedKeyUsage | grep -q "Client Authentication" && ok "clientAuth" || bad "EKU"
openssl x509 -in $a/tls.crt -noout -ext extendedKeyUsage | grep -q "Server Authentication" && bad "agency has serverAuth" || ok "agency has no serverAuth"
openssl x509 -in fed/agencies/MX-CMX-GW01/tls.crt -noout -ext extendedKeyUsage | grep -q "Server Authentication" && ok "gateway has serverAuth" || bad "gateway EKU"
end=$(date -d "$(openssl x509 -in $a/tls.crt -noout -enddate | cut -d= -f2)" +%s)
[ $((end - $(date +%s))) -le $((90 * 86400)) ] && ok "certificate valid at most 90 days" || bad "certificate too long"
later=$(( $(date +%s) + 31 * 86400 ))
openssl verify -attime $later -CAfile fed/ca.crt $a/tls.crt >/dev/null 2>&1 && bad "expired certificate accepted" || ok "openssl refuses it once expired"
# the TLS pin in the directory is the SHA-256 of the certificate's SPKI
pin=$(openssl x509 -in $a/tls.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
"$K" show --dir fed | grep -q . && ok "show prints"
unset PUENTE_PASSPHRASE
expect 0 "created federation" "$K" init --dir other --name "Otra federacion" --insecure-no-passphrase
expect 0 "added MX-TLA-PPNNA" "$K" add-agency --dir other --id MX-TLA-PPNNA --role state --name "Impostor"
openssl verify -CAfile fed/ca.crt other/agencies/MX-TLA-PPNNA/tls.crt >/dev/null 2>&1 && bad "certificate of another CA accepted" || ok "openssl refuses a certificate from another CA"
export PUENTE_PASSPHRASE="frase de prueba, no secreta"

# --- renewal keeps the pin; a new key changes it
s=$(serial fed)
expect 0 "renewed" "$K" renew-cert --dir fed --id MX-TLA-PPNNA --cert-days 60
pin2=$(openssl x509 -in $a/tls.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
[ "$pin" = "$pin2" ] && [ "$(serial fed)" = "$s" ] && ok "renewed certificate keeps its pin, no new directory" || bad "renewal changed the pin"
expect 0 "new key" "$K" renew-cert --dir fed --id MX-TLA-PPNNA --new-key
[ "$(serial fed)" = $((s + 1)) ] && ok "a new TLS key publishes a new directory" || bad "no new serial"

# --- the directory: good, tampered, wrong root, older serial
expect 0 "ok: directory serial" "$K" verify --dir fed --root fed/root.pub
cp fed/directory.pb tampered.pb
printf 'X' | dd of=tampered.pb bs=1 seek=40 conv=notrunc 2>/dev/null
expect 65 "signature does not verify" "$K" verify tampered.pb --root fed/root.pub
expect 65 "signature does not verify" "$K" verify --dir fed --root other/root.pub
expect 65 "not newer" "$K" verify --dir fed --root fed/root.pub --held-serial "$(serial fed)"
cp fed/directory.pb old.pb
expect 0 "directory serial" "$K" sign-directory --dir fed --days 10
expect 65 "not newer" "$K" verify old.pb --root fed/root.pub --held-serial "$(serial fed)"
printf '\377\377\377' > garbage.pb
expect 65 "malformed protobuf" "$K" verify garbage.pb --root fed/root.pub

# --- rotation with overlap, suspension, revocation
expect 0 "rotated" "$K" rotate --dir fed --id MX-NLE-PPNNA --overlap-days 5
ls fed/agencies/MX-NLE-PPNNA | grep -q '^signing-[0-9a-f]*\.key$' && ok "old signing key kept for the overlap" || bad "old key not archived"
"$K" show --dir fed | sed -n '/^MX-NLE-PPNNA/,/^$/p' | grep -q "SIGNING.*RETIRED.*since" && ok "old signing key retired at the end of the overlap" || bad "no retirement"
"$K" show --dir fed | sed -n '/^MX-NLE-PPNNA/,/^$/p' | grep -c "SIGNING.*ACTIVE" | grep -q 1 && ok "one active signing key" || bad "active keys"
wkid=$("$K" show --dir fed | sed -n '/^MX-FED-AUDITORIA/,/^$/p' | awk '/CHECKPOINT/ {print $2; exit}')
expect 0 "rotated" "$K" rotate --dir fed --id MX-FED-AUDITORIA
[ -e "fed/agencies/MX-FED-AUDITORIA/witness-$wkid.key" ] && ok "old witness key archived" || bad "old witness key not archived"
"$K" show --dir fed | sed -n '/^MX-FED-AUDITORIA/,/^$/p' | grep -q "CHECKPOINT *$wkid  RETIRED.*since" &&
	ok "old witness key retired at the end of the overlap" || bad "witness key not retired"
"$K" show --dir fed | sed -n '/^MX-FED-AUDITORIA/,/^$/p' | awk '/CHECKPOINT.*ACTIVE/ {print $2}' |
	grep -v "$wkid" | grep -q . && ok "a new witness key is active" || bad "no new witness key"
[ "$(mode fed/agencies/MX-FED-AUDITORIA/witness.key)" = 600 ] &&
	! cmp -s fed/agencies/MX-FED-AUDITORIA/witness.key "fed/agencies/MX-FED-AUDITORIA/witness-$wkid.key" &&
	ok "witness.key replaced, 0600" || bad "witness.key was not replaced"
expect 0 "suspend" "$K" suspend --dir fed --id MX-NLE-PPNNA
"$K" show --dir fed | grep -q "^MX-NLE-PPNNA  state  SUSPENDED" && ok "suspended" || bad "not suspended"
expect 0 "reinstate" "$K" reinstate --dir fed --id MX-NLE-PPNNA
expect 0 "revoke" "$K" revoke --dir fed --id MX-NLE-PPNNA
expect 65 "revoked, which is final" "$K" reinstate --dir fed --id MX-NLE-PPNNA
expect 65 "revoked, which is final" "$K" rotate --dir fed --id MX-NLE-PPNNA
kid=$("$K" show --dir fed | sed -n '/^MX-TLA-PPNNA/,/^$/p' | awk '/SIGNING/ {print $2; exit}')
expect 0 "marked compromised" "$K" revoke --dir fed --id MX-TLA-PPNNA --key-id "$kid" --since 1790000000
"$K" show --dir fed | grep -q "$kid  COMPROMISED" && ok "key compromised in the directory" || bad "key not compromised"
# a revoked witness is off the list for good; a suspended one stays listed
expect 0 "suspend" "$K" suspend --dir fed --id MX-FED-AUDITORIA
"$K" show --dir fed | grep -q "^witnesses: .*MX-FED-AUDITORIA" && ok "a suspended witness stays listed" || bad "suspension unlisted the witness"
expect 0 "revoke" "$K" revoke --dir fed --id MX-FED-AUDITORIA
"$K" show --dir fed | grep -qx "witnesses: MX-FED-PFPNNA" && ok "a revoked witness is unlisted" ||
	bad "after revocation: $("$K" show --dir fed | grep witnesses)"
expect 0 "ok: directory serial" "$K" verify --dir fed --root fed/root.pub

# --- bad input: one clear line, the right code, nothing written
s=$(serial fed)
expect 65 "not in the directory" "$K" rotate --dir fed --id MX-ZAC-PPNNA
expect 65 "already in the directory" "$K" add-agency --dir fed --id MX-TLA-PPNNA --role state --name x
expect 64 "not of the form" "$K" add-agency --dir fed --id MX-XXX-PPNNA --role state --name x
expect 64 "not of the form" "$K" add-agency --dir fed --id mx-tla-ppnna --role state --name x
expect 64 "disagrees" "$K" add-agency --dir fed --id MX-TAB-PPNNA --role state --name x --state TLA
expect 64 "unknown role" "$K" add-agency --dir fed --id MX-TAB-PPNNA --role admin --name x
expect 64 "needs --address" "$K" add-agency --dir fed --id MX-CMX-GW02 --role gateway --name x
expect 64 "missing --id" "$K" rotate --dir fed
expect 64 "bad value" "$K" renew-cert --dir fed --id MX-TLA-PPNNA --cert-days 91
expect 64 "bad value" "$K" sign-directory --dir fed --days 31
expect 64 "unknown command" "$K" frobnicate
expect 64 "unexpected argument" "$K" rotate --dir fed --id MX-TLA-PPNNA extra
expect 66 "no such file" "$K" rotate --dir nowhere --id MX-TLA-PPNNA
mkdir -p busy && touch busy/file
expect 73 "already exists" "$K" add-agency --dir fed --id MX-TAB-PPNNA --role state --name x --out busy
[ "$(serial fed)" = "$s" ] && ok "refusals published nothing" || bad "a refusal changed the directory"

# --- damaged or exposed key files
cp fed/root.key root.bak
chmod 644 fed/root.key
expect 77 "readable or writable by group" "$K" sign-directory --dir fed
chmod 600 fed/root.key
head -c 40 root.bak > fed/root.key
expect 65 "key file is malformed" "$K" sign-directory --dir fed
cp root.bak fed/root.key && chmod 600 fed/root.key
expect 0 "directory serial" "$K" sign-directory --dir fed

# --- the national federation of the README: 32 states, PFPNNA, an auditor, a gateway
unset PUENTE_PASSPHRASE
"$K" init --dir national --name "Federacion Puente" --insecure-no-passphrase >/dev/null
for s in AGU BCN BCS CAM CHH CHP CMX COA COL DUR GRO GUA HID JAL MEX MIC MOR NAY NLE OAX \
    PUE QUE ROO SIN SLP SON TAB TAM TLA VER YUC ZAC; do
	"$K" add-agency --dir national --id "MX-$s-PPNNA" --role state --name "PPNNA $s" >/dev/null
done
"$K" add-agency --dir national --id MX-FED-PFPNNA --role federal --name "PFPNNA" >/dev/null
"$K" add-agency --dir national --id MX-FED-AUDITORIA --role auditor --name "Auditoria" >/dev/null
"$K" add-agency --dir national --id MX-CMX-PUENTE1 --role gateway --name "Pasarela" --address 127.0.0.1:7443 >/dev/null
expect 0 "35 agencies" "$K" verify --dir national --root national/root.pub
"$K" show --dir national | grep -qx "witnesses: MX-FED-PFPNNA MX-FED-AUDITORIA" && ok "PFPNNA and the auditor are the witnesses" ||
	bad "national witnesses: $("$K" show --dir national | grep witnesses)"
n=0
for c in national/agencies/*/tls.crt; do
	openssl verify -CAfile national/ca.crt "$c" >/dev/null && n=$((n + 1))
done
[ "$n" = 35 ] && ok "all 35 certificates verify with openssl" || bad "only $n certificates verify"

# --- help
expect 0 "usage: puente-keys" "$K" --help
expect 0 "add-agency --dir DIR --id ID" "$K" add-agency --help

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
