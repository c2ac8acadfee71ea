# keel -- build, test and run.
#
#   make            build build/keel (and build/asan/keel, the sanitizer build)
#   make run        install missing Debian packages, build, start keel server
#   make check      install, build, run every test (plain and ASan+UBSan)
#   make fuzz       fuzz every parser with libFuzzer, FUZZ_SECONDS (60) each
#   make bench      run the benchmarks (see docs/benchmarks.md)
#   make ui-test    the web UI's tests in headless Chromium (part of check)

CC      ?= cc
PKGS    := libmicrohttpd sqlite3 libcrypto yaml-0.1 xgboost libcurl zlib libdeflate libisal
CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral -Wvla -Wpointer-arith
OPT     ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CFLAGS_ALL := $(CSTD) $(WARN) $(OPT) -Isrc $(PKG_CFLAGS) $(CFLAGS)
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
MAIN_SRC := src/main.c
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

# the web UI (ui/, decision 0015): npm packages from the lock file, type-checked
# and built by Vite into build/ui/dist, then turned into C data by tools/embed.c
# and linked into every binary (data only, so one object serves all builds)
UI_SRC := ui/index.html ui/package.json ui/vite.config.ts ui/tsconfig.json \
          $(shell find ui/src -type f 2>/dev/null | sort)
UI_GEN := build/gen/ui_assets.c
UI_OBJ := build/gen/ui_assets.o

OBJ      := $(patsubst src/%.c,build/obj/%.o,$(LIB_SRC)) $(UI_OBJ)
ASAN_OBJ := $(patsubst src/%.c,build/asan/obj/%.o,$(LIB_SRC)) $(UI_OBJ)
UNITS      := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))
ASAN_UNITS := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))

# fuzz targets (tests/fuzz/fuzz_*.c): replayed over their corpora by `make check`
# (gcc, ASan+UBSan, tests/fuzz/replay.c as main); fuzzed by `make fuzz` (clang's
# libFuzzer, FUZZ_SECONDS each; new inputs land in build/fuzz/corpus/<target>)
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_REPLAYS := $(patsubst %,build/asan/fuzz/%,$(FUZZ_NAMES))
FUZZ_BINS    := $(patsubst %,build/fuzz/%,$(FUZZ_NAMES))
FUZZ_OBJ     := $(patsubst src/%.c,build/fuzz/obj/%.o,$(LIB_SRC)) $(UI_OBJ)
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 60

# unit tests: cmocka; jansson only as the reference in the JSON parser's differential test
TEST_LIBS := -lcmocka -ljansson
PYTHON  := /usr/bin/python3

.PHONY: all deps run check unit api unit-asan api-asan fuzz-replay fuzz torture bench clean ui-test
all: build/keel build/asan/keel $(UNITS) $(ASAN_UNITS) $(FUZZ_REPLAYS) build/tests/torture

deps:
	@scripts/install-deps.sh

ui/node_modules/.keel-installed: ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build/ui/stamp: $(UI_SRC) ui/node_modules/.keel-installed
	cd ui && ./node_modules/.bin/tsc --noEmit && ./node_modules/.bin/vite build --logLevel warn
	@touch $@

build/tools/embed: tools/embed.c src/ui/mime.c src/ui/ui.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) tools/embed.c src/ui/mime.c -o $@ -ldeflate -lcrypto

$(UI_GEN): build/ui/stamp build/tools/embed
	@mkdir -p $(dir $@)
	cd build/ui/dist && ../../tools/embed ../../gen/ui_assets.c.tmp . \
	  $$(find . -type f -printf '%P\n' | LC_ALL=C sort)
	mv $@.tmp $@

$(UI_OBJ): $(UI_GEN)
	$(CC) $(CSTD) -O0 -Isrc $(PKG_CFLAGS) -c $< -o $@

build/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

build/asan/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SAN) -MMD -MP -c $< -o $@

build/keel: $(OBJ) build/obj/main.o
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(PKG_LIBS)

build/asan/keel: $(ASAN_OBJ) build/asan/obj/main.o
	$(CC) $(CFLAGS_ALL) $(SAN) $^ -o $@ $(PKG_LIBS)

build/tests/%: tests/unit/%.c tests/unit/testlib.h $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(OBJ) -o $@ $(PKG_LIBS) $(TEST_LIBS)

build/asan/tests/%: tests/unit/%.c tests/unit/testlib.h $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SAN) $< $(ASAN_OBJ) -o $@ $(PKG_LIBS) $(TEST_LIBS)

build/asan/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SAN) $< tests/fuzz/replay.c $(ASAN_OBJ) -o $@ $(PKG_LIBS)

build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_ALL) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build/fuzz/%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_ALL) $(FUZZ_SAN) -fsanitize=fuzzer $< $(FUZZ_OBJ) -o $@ $(PKG_LIBS)

# fault injection: every allocation of the request path fails in turn (plain build:
# the test replaces the process's allocator, which the sanitizers' runtime owns)
build/tests/torture: tests/fault/torture.c $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(OBJ) -o $@ $(PKG_LIBS)

run: deps
	@$(MAKE) --no-print-directory build/keel
	./build/keel server --host 127.0.0.1 --port 5000

unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; done

unit-asan: $(ASAN_UNITS)
	@set -e; for t in $(ASAN_UNITS); do echo "== $$t"; $$t; done

api: build/keel
	KEEL_BIN=$(CURDIR)/build/keel $(PYTHON) -m pytest -q tests/api

api-asan: build/asan/keel
	KEEL_BIN=$(CURDIR)/build/asan/keel KEEL_ASAN=1 $(PYTHON) -m pytest -q tests/api

# the UI in Debian's Chromium, driven by playwright-core, against real servers
ui-test: build/keel ui/node_modules/.keel-installed
	KEEL_BIN=$(CURDIR)/build/keel node --test --test-concurrency=1 tests/ui/

fuzz-replay: $(FUZZ_REPLAYS)
	@set -e; for t in $(FUZZ_NAMES); do echo "== fuzz corpus: $$t"; \
	  build/asan/fuzz/$$t tests/fuzz/corpus/$$t; done

torture: build/tests/torture
	build/tests/torture

fuzz: deps $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_NAMES); do echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  mkdir -p build/fuzz/corpus/$$t build/fuzz/crashes/$$t; \
	  build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
	    -artifact_prefix=build/fuzz/crashes/$$t/ build/fuzz/corpus/$$t tests/fuzz/corpus/$$t; \
	done

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory torture
	@$(MAKE) --no-print-directory api
	@$(MAKE) --no-print-directory ui-test
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory api-asan

build/bench/%: bench/%.c $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(OBJ) -o $@ $(PKG_LIBS)

bench: deps build/keel build/bench/scoring_overhead build/bench/xgb_matrix ui/node_modules/.keel-installed
	bench/run.sh
	bench/artifacts.sh
	bench/serve.sh
	bench/batch.sh
	bench/deploy.sh
	bench/soak.sh
	KEEL_BIN=$(CURDIR)/build/keel node bench/ui_runs.mjs
	KEEL_BIN=$(CURDIR)/build/keel node bench/ui_chart.mjs

clean:
	rm -rf build

-include $(OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d) build/obj/main.d build/asan/obj/main.d
