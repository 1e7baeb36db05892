#!/bin/sh
# make demo: the journeys of Puente on this machine, narrated. Run from the project root
# after `make build`. Everything it creates is under build/demo/ and is fictional.
set -eu
out=build/demo
rm -rf "$out"
mkdir -p "$out"
echo "Puente demo — all data below is generated and fictional."
echo
./build/tests/puente-demo-seal "$out"
echo
echo "Explore:"
echo "  ls -l $out                      # sealed outbox and opened inbox"
echo "  sed -n '1,80p' proto/PROTOCOL.md   # what every byte means"
echo "  make test                         # the whole test suite"
