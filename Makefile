# Thin wrapper around CMake: `make demo` and `make test` are the two commands of the README.
# Both install missing Debian packages first (apt-get, by name).

DEPS := gcc cmake pkg-config libssl-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler \
        libuv1-dev libsqlite3-dev libjansson-dev libcmocka-dev clang-14 libfuzzer-14-dev \
        libclang-rt-14-dev valgrind cppcheck openssl python3-nacl chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
JOBS := $(shell nproc 2>/dev/null || echo 2)
CTEST := ctest --output-on-failure -j $(JOBS)

.PHONY: all deps build build-asan build-fuzz demo test test-fast fuzz bench cppcheck clean

all: build

deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "puente: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j $(JOBS)

build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPUENTE_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)

# libFuzzer needs clang; the library is instrumented, the fuzz executables link libFuzzer.
build-fuzz: deps
	CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DPUENTE_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)

demo: build
	sh tests/demo/demo.sh

test: build build-asan build-fuzz cppcheck
	cd build && $(CTEST)
	cd build-asan && $(CTEST)
	cd build-fuzz && $(CTEST) -L fuzz

# Fuzz each target for FUZZ_SECONDS (default 60), new inputs go to a scratch folder.
fuzz: build-fuzz
	sh tests/fuzz/run.sh build-fuzz $${FUZZ_SECONDS:-60}

# The standard set of DESIGN.md §10 against its own federation and gateway on loopback.
bench: build
	./build/tests/puente-bench -S build/keys/puente-keys build/gateway/puente-gateway \
	  $(CURDIR)/build/bench

cppcheck: deps
	cppcheck --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
	  --quiet --std=c11 -I proto proto gateway client keys tests

clean:
	rm -rf build build-asan build-fuzz
