#!/bin/sh
# make demo: Puente on this machine, narrated. Run from the project root after `make build`.
# Everything it creates is under build/demo/ and is fictional.
set -eu
out=build/demo
echo "Puente demo — all data below is generated and fictional."
echo
echo "== The protocol library: sealing and opening a case file"
mkdir -p "$out"
./build/tests/puente-demo-seal "$out/library"
echo
echo "== A federation, a gateway, three journeys"
./build/tests/puente-demo ./build/keys/puente-keys ./build/gateway/puente-gateway "$out/federation"
echo
echo "Explore:"
echo "  ./build/keys/puente-keys show --dir $out/federation/fed --root $out/federation/fed/root.pub"
echo "  sed -n '1,120p' proto/PROTOCOL.md     # what every byte means"
echo "  make test                              # the whole test suite"
