#!/bin/sh
# tls_negatives.sh - THREATS.md group 13 against a running gateway, with `openssl s_client`.
#
# Usage: tls_negatives.sh HOST:PORT CA_CRT CLIENT_CRT CLIENT_KEY
#   HOST:PORT   the gateway's TLS listener, e.g. 127.0.0.1:7443
#   CA_CRT      the federation CA certificate (FED/agencies/ID/ca.crt)
#   CLIENT_CRT  a valid agency certificate (FED/agencies/ID/tls.crt) ...
#   CLIENT_KEY  ... and its key (FED/agencies/ID/tls.key)
# Environment: TLS_WAIT seconds each client stays connected to hear the server (default 2).
#
# A good client (TLS 1.3, its certificate, ALPN puente/1) must be accepted before and after the
# bad ones, and each bad one refused with the TLS alert the gateway sends for it:
#   no client certificate                  116 certificate_required (seen after the handshake:
#                                              TLS 1.3 reports it on the client's first read)
#   certificate of another CA, same id      48 unknown_ca (also after the handshake)
#   TLS 1.2 only                            70 protocol_version
#   only TLS_AES_128_CCM_8_SHA256           40 handshake_failure
#   ALPN http/1.1                          120 no_application_protocol
#   no ALPN                                120 no_application_protocol
# The other CA and its certificate (same agency id as CLIENT_CRT) are made in a temporary
# folder with the openssl command. Exit status 0 when every check passes, 1 otherwise,
# 64 on a usage error.
set -eu

if [ $# -ne 4 ]; then
	echo "usage: tls_negatives.sh HOST:PORT CA_CRT CLIENT_CRT CLIENT_KEY" >&2
	exit 64
fi
HP=$1
CA=$2
CRT=$3
KEY=$4
WAIT=${TLS_WAIT:-2}
for f in "$CA" "$CRT" "$KEY"; do
	[ -r "$f" ] || { echo "tls_negatives: cannot read $f" >&2; exit 64; }
done

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# An impostor: the same agency id as CLIENT_CRT, issued by a CA of its own.
ID=$(openssl x509 -in "$CRT" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
[ -n "$ID" ] || { echo "tls_negatives: no CN in $CRT" >&2; exit 64; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$T/other-ca.key" -out "$T/other-ca.crt" -subj "/O=Otra federacion/CN=Puente federation CA" \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$T/openssl.err"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/other.key" -out "$T/other.csr" -subj "/O=Otra federacion/CN=$ID" 2>>"$T/openssl.err"
cat >"$T/ext.cnf" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:urn:puente:agency:$ID
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
openssl x509 -req -in "$T/other.csr" -CA "$T/other-ca.crt" -CAkey "$T/other-ca.key" \
	-set_serial 4242 -days 2 -extfile "$T/ext.cnf" -out "$T/other.crt" 2>>"$T/openssl.err"

# attempt NAME WANT [s_client options]: WANT is "accept" or the alert number expected.
# stdin stays open for WAIT seconds so a refusal sent after the handshake is still heard.
attempt() {
	name=$1
	want=$2
	shift 2
	out="$T/$name.out"
	set +e
	sleep "$WAIT" | timeout $((WAIT + 15)) openssl s_client -connect "$HP" -CAfile "$CA" \
		-verify_return_error "$@" >"$out" 2>&1
	set -e
	if [ "$want" = accept ]; then
		if grep -q 'SSL alert number' "$out"; then
			bad "$name: refused ($(grep -o 'SSL alert number [0-9]*' "$out" | head -n 1))"
		elif grep -q '^New, TLSv1.3, Cipher is TLS_\(AES_256_GCM_SHA384\|CHACHA20_POLY1305_SHA256\|AES_128_GCM_SHA256\)$' "$out" &&
		    grep -q '^ALPN protocol: puente/1$' "$out" &&
		    grep -q '^ *Verify return code: 0 (ok)$' "$out"; then
			ok "$name: accepted (TLS 1.3, AEAD, puente/1, gateway certificate verified)"
		else
			bad "$name: no TLS 1.3 session with puente/1: $(tail -n 3 "$out" | tr '\n' ' ')"
		fi
	elif grep -q "SSL alert number $want\$" "$out"; then
		ok "$name: refused with alert $want"
	else
		bad "$name: wanted alert $want, got: $(grep -m 1 -e 'alert' -e 'error' -e '^New,' "$out" || echo 'no alert')"
	fi
}

attempt good accept -cert "$CRT" -key "$KEY" -alpn puente/1
attempt no-certificate 116 -alpn puente/1
attempt other-ca 48 -cert "$T/other.crt" -key "$T/other.key" -alpn puente/1
attempt tls12-only 70 -tls1_2 -cert "$CRT" -key "$KEY" -alpn puente/1
attempt ccm8-only 40 -ciphersuites TLS_AES_128_CCM_8_SHA256 -cert "$CRT" -key "$KEY" -alpn puente/1
attempt alpn-http11 120 -cert "$CRT" -key "$KEY" -alpn http/1.1
attempt no-alpn 120 -cert "$CRT" -key "$KEY"
# The gateway still serves a good client after all that.
attempt good-again accept -cert "$CRT" -key "$KEY" -alpn puente/1

echo "tls_negatives: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
