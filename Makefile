# callscope — build, test and benchmark.
#
#   make                     the CLI (build/callscope) and the extension for $(PYTHON)
#   make PYTHON=/path/python the extension for another interpreter
#   make all-pythons         the extension for every CPython 3.8+ under $(PYENV_ROOT)
#   make test                every test: C units, C units under ASan, Python on all Pythons,
#                            and a minute of each fuzzer
#   make test-c              the C units, with CS_ASSERT on; T=collector only
#                            tests/c/test_collector.c, CASE=name only its case test_name
#   make fuzz                the libFuzzer harnesses of tests/fuzz, FUZZ_SECONDS (300) each
#   make bench               overhead and throughput ratios, live cost, filters and exports on
#                            10 million calls (see bench/)
#   make live-bench          what live observation costs the observed program
#   make top-bench           what `callscope top` costs a CPU-bound program
#   make export-bench        export speed per format (CALLS=N, default 2 million)
#   make view-bench          how quickly the viewer answers on a large store (CALLS=N)
#   make filter-bench        --filter on a recorded store of 10 million calls (CALLS=N)

PYTHON ?= python3
PYENV_ROOT ?= /root/.pyenv
# Where scripts/install-pythons.sh puts CPython 3.14 and 3.15 (Debian's
# unstable suite, unpacked into a private prefix each).
CALLSCOPE_PYTHONS ?= /opt/callscope-pythons
BUILD ?= build
CC ?= gcc
OPT ?= -O2 -g
WARN = -std=c11 -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -Isrc
# CHECKS=1 turns on CS_ASSERT (src/util/check.h); the sanitized test build
# and the fuzzers set it, the release build does not. Use it with a BUILD of
# its own: objects are not rebuilt when only CHECKS changes. The C tests
# have it on whatever CHECKS says (see CHECKED below).
CPPFLAGS += $(if $(CHECKS),-DCS_CHECKS)
CFLAGS += $(OPT) $(WARN)
# Each compile also writes which headers it read (a .d file beside its output),
# so that a changed header rebuilds only what includes it; -MP keeps a deleted
# header from stopping the build.
DEPFLAGS = -MMD -MP

CORE_SRC = $(wildcard src/core/*.c)
# Utilities below every layer: the text buffer, JSON, the error printer,
# number parsing, terminal-safe text (UTF-8 encoding is a header).
UTIL_SRC = $(wildcard src/util/*.c)
# The expression language: no Python, no SQLite, so the extension can link it too.
EXPR_SRC = $(wildcard src/expr/*.c)
# The viewer (src/view/) needs ncursesw; the C tests link the readers
# without it, so only the CLI links the viewer.
VIEW_SRC = $(wildcard src/view/*.c)
# The live TUI (src/tui) too: curses, and the agent client of the commands.
TUI_SRC = $(wildcard src/tui/*.c)
# `show` and `stats` are commands (src/cli/), with the options they share,
# and the live renderer is the live commands' printer, but the C tests and
# the fuzzers run them in-process, so they are linked into the library with
# the readers.
READER_COMMANDS_SRC = src/cli/show.c src/cli/stats.c src/cli/reader_options.c src/cli/live_render.c
READER_SRC = $(wildcard src/collector/*.c) $(filter-out $(SQLITE_EXT_ENTRY),$(wildcard src/store/*.c)) \
    $(wildcard src/query/*.c) $(wildcard src/export/*.c) $(READER_COMMANDS_SRC)
# callscope's loadable SQLite extension: the call_rows and vals virtual
# tables for the sqlite3 shell, Python's sqlite3 and Datasette
# (docs/schema.md). Its entry point is compiled into it alone.
SQLITE_EXT_ENTRY = src/store/sqlite_extension.c
SQLITE_EXT_SRC = $(SQLITE_EXT_ENTRY) src/store/modules.c src/store/calls_vtab.c src/store/vals_vtab.c \
    src/store/chunk_table.c src/store/id_plan.c src/store/narrowing.c src/store/call_chunks.c src/store/val_chunks.c src/store/chunk_codec.c src/util/textbuf.c
CLI_SRC = $(filter-out $(READER_COMMANDS_SRC),$(wildcard src/cli/*.c)) $(LIVE_SHARED_SRC)
# The live agent runs inside the target, so it is part of the extension;
# the protocol is shared with the client.
LIVE_SHARED_SRC = src/live/protocol.c
# The recordings' value renderers too: `inspect` renders in the agent what
# the client renders for a recording or a watch; and the strict number
# parsing, which reads the observe request's fields and the questions'
# options in the agent.
HOOKS_SRC = $(wildcard src/py/*.c) $(wildcard src/hooks/*.c) $(wildcard src/capture/*.c) $(wildcard src/live/*.c) \
    $(EXPR_SRC) src/util/textbuf.c src/util/json.c src/util/parse_number.c src/collector/decode.c \
    src/collector/value_json.c
# Injecting the agent into a running process (Linux x86-64), and the agent
# socket's path, which the agent computes the same way.
ATTACH_SRC = $(wildcard src/attach/*.c) src/live/socket_path.c
LIBS = -lsqlite3 -lzstd -lm
VIEW_LIBS = -lncursesw

# The extension's file name and include path depend on the interpreter.
PY_EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig;print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
PY_INCLUDE := $(shell $(PYTHON) -c 'import sysconfig;print(sysconfig.get_paths()["include"])' 2>/dev/null)
PKG_DIR = $(BUILD)/lib/callscope
EXTENSION = $(PKG_DIR)/_callscope$(PY_EXT_SUFFIX)
# The extension's objects, in a directory per interpreter ABI named after the
# extension's suffix (obj-cpython-311-x86_64-linux-gnu): building for one
# Python leaves the others' objects as they are.
EXT_OBJ_DIR = $(BUILD)/obj-$(patsubst .%.so,%,$(PY_EXT_SUFFIX))
EXT_OBJ = $(patsubst src/%.c,$(EXT_OBJ_DIR)/%.o,$(HOOKS_SRC) $(CORE_SRC))
# NDEBUG, as Python builds its own extensions: the asserts of Python's
# headers (in every PyUnicode_ and PyTuple_ macro) are for debugging Python.
EXT_CFLAGS = $(CPPFLAGS) -DNDEBUG -I$(PY_INCLUDE) $(CFLAGS) -fPIC -fvisibility=hidden
PY_SOURCES = $(wildcard python/callscope/*.py python/callscope/*/*.py)

.PHONY: all deps extension package all-pythons test test-c test-asan test-python bench bench-all clean demo

all: $(BUILD)/callscope extension $(BUILD)/tests/fixture_entry.so

# Everything of the callscope binary but its commands, compiled once per BUILD
# (plain or sanitized) and linked into the binary and into every C test.
LIB_SRC = $(READER_SRC) $(ATTACH_SRC) $(EXPR_SRC) $(CORE_SRC) $(UTIL_SRC)
LIB_A = $(BUILD)/libcallscope.a

# The commands and the viewer, compiled like the library but linked only into the binary.
CLI_OBJ = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CLI_SRC) $(VIEW_SRC) $(TUI_SRC))
LIB_OBJ = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/callscope: $(CLI_OBJ) $(LIB_A)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(LIB_A) $(LIBS) $(VIEW_LIBS)

extension: package $(EXTENSION)

SQLITE_EXT = $(PKG_DIR)/callscope_sqlite.so
package: $(BUILD)/callscope $(SQLITE_EXT) $(PY_SOURCES)
	@mkdir -p $(PKG_DIR)
	cp -r python/callscope/. $(PKG_DIR)/
	cp $(BUILD)/callscope $(PKG_DIR)/.callscope.tmp && mv -f $(PKG_DIR)/.callscope.tmp $(PKG_DIR)/callscope

# Compiled in one go from its few files, with SQLite's calls going through
# the loading SQLite's table of functions (src/store/sqlite_api.h).
$(SQLITE_EXT): $(SQLITE_EXT_SRC)
	@mkdir -p $(PKG_DIR)
	$(CC) $(CPPFLAGS) -DCS_SQLITE_LOADABLE $(CFLAGS) $(DEPFLAGS) -MF $@.d -MT $@ -fPIC -shared \
	    -fvisibility=hidden -o $@ $(SQLITE_EXT_SRC) -lzstd -lm

# The flags the extension's objects were compiled with. It is rewritten only
# when they change (another interpreter of the same ABI, another OPT), and the
# objects depend on it, so that they are compiled again then and only then.
$(EXT_OBJ_DIR)/flags: FORCE
	@test -n "$(PY_EXT_SUFFIX)" || { echo "make: $(PYTHON) is not a working Python" >&2; exit 1; }
	@mkdir -p $(@D)
	@echo '$(EXT_CFLAGS)' | cmp -s - $@ || echo '$(EXT_CFLAGS)' >$@

$(EXT_OBJ_DIR)/%.o: src/%.c $(EXT_OBJ_DIR)/flags
	@mkdir -p $(@D)
	$(CC) $(EXT_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(EXTENSION): $(EXT_OBJ)
	@mkdir -p $(PKG_DIR)
	$(CC) $(CFLAGS) -shared -o $@ $(EXT_OBJ)

# Every CPython 3.8+ this machine has: pyenv's, then those of install-pythons.sh.
# (Evaluated when used, so that `make test` sees what `pythons` installed.)
ALL_PYTHONS = $(sort $(wildcard $(PYENV_ROOT)/versions/3.8*/bin/python3 $(PYENV_ROOT)/versions/3.9*/bin/python3 \
    $(PYENV_ROOT)/versions/3.1[0-9]*/bin/python3)) $(sort $(wildcard $(CALLSCOPE_PYTHONS)/3.*/usr/bin/python3))

all-pythons: $(BUILD)/callscope $(BUILD)/tests/fixture_entry.so
	@for p in $(ALL_PYTHONS); do $(MAKE) --no-print-directory extension PYTHON=$$p || exit 1; done

# ---- tests ----

C_TESTS = $(patsubst tests/c/%.c,%,$(wildcard tests/c/test_*.c))
C_TEST_BIN = $(addprefix $(BUILD)/tests/,$(C_TESTS))

# The C tests run with CS_ASSERT on, so that every run of them checks the
# invariants, while the binary and the extension that users get keep it
# off: the tests link a library compiled with -DCS_CHECKS in a directory of
# its own, $(BUILD)/checked. With CHECKS=1 the whole BUILD is checked, and
# the tests link its library.
CHECKED = $(if $(CHECKS),$(BUILD),$(BUILD)/checked)
CHECKED_CPPFLAGS = $(CPPFLAGS) $(if $(CHECKS),,-DCS_CHECKS)
CHECKED_LIB_A = $(CHECKED)/libcallscope.a

$(BUILD)/checked/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CHECKED_CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(BUILD)/checked/libcallscope.a: $(patsubst src/%.c,$(BUILD)/checked/obj/%.o,$(LIB_SRC))
	rm -f $@ && ar rcs $@ $^

# Compiled apart from linking, so that a change in the library relinks the
# tests without compiling them again.
$(C_TEST_BIN:$(BUILD)/tests/%=$(CHECKED)/tests/%.o): $(CHECKED)/tests/%.o: tests/c/%.c
	@mkdir -p $(@D)
	$(CC) $(CHECKED_CPPFLAGS) -Itests/c $(CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(C_TEST_BIN): $(BUILD)/tests/%: $(CHECKED)/tests/%.o $(CHECKED_LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(CHECKED_LIB_A) $(LIBS)

# A stand-in for the agent's entry point, for the attach tests. Never
# sanitized, whatever OPT says: it is loaded into uninstrumented Pythons.
$(BUILD)/tests/fixture_entry.so: tests/c/fixture_entry.c
	@mkdir -p $(BUILD)/tests
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) $(DEPFLAGS) -MF $@.d -MT $@ -fPIC -shared -fvisibility=hidden -o $@ $<

# T=collector runs tests/c/test_collector.c alone, and CASE=name only its case
# test_name (see tests/c/check.h).
C_TEST_RUN = $(if $(T),$(BUILD)/tests/test_$(T:test_%=%),$(C_TEST_BIN))
test-c: $(C_TEST_RUN) $(BUILD)/tests/fixture_entry.so
	@for t in $(C_TEST_RUN); do $$t $(CASE) || exit 1; done

# The C core under AddressSanitizer and UBSan, then the end-to-end tests with
# the callscope binary (collector, store, show, stats) built the same way.
ASAN_OPT = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-asan: all
	$(MAKE) --no-print-directory BUILD=build/asan OPT="$(ASAN_OPT)" CHECKS=1 test-c build/asan/callscope
	ln -sfn ../lib build/asan/lib
	CALLSCOPE_BIN=build/asan/callscope python3 tests/run_python_tests.py $(PYTHON)

test-python: all-pythons
	@python3 tests/run_python_tests.py $(ALL_PYTHONS)

# ---- fuzzing (libFuzzer, clang) ----
#
# tests/fuzz/fuzz_*.c, each built with everything of the binary's library
# under ASan and UBSan, and run from its seed corpus (copied: the runs'
# findings stay under build/) with its dictionary, tests/fuzz/NAME.dict, if
# it has one. `make fuzz` runs each for FUZZ_SECONDS (300);
# `make test` runs each for 60 s. A crash, leak or UB report fails the run.
FUZZ_SECONDS ?= 300
FUZZERS = $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OPT = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -DCS_CHECKS
FUZZ_OBJ = $(patsubst src/%.c,build/fuzz/obj/%.o,$(LIB_SRC) $(LIVE_SHARED_SRC))
.PRECIOUS: build/fuzz/obj/%.o
build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) -std=c11 $(FUZZ_OPT) $(DEPFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	clang $(CPPFLAGS) $(FUZZ_DEFS) -std=c11 $(FUZZ_OPT) $(DEPFLAGS) -MF $@.d -MT $@ -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LIBS)
# fuzz_filter runs each filter on a real recording, which it makes when it
# starts with this build's binary and extension (for $(PYTHON)).
build/fuzz/fuzz_filter: FUZZ_DEFS = -DCS_FUZZ_CALLSCOPE='"$(abspath $(BUILD)/callscope)"' \
    -DCS_FUZZ_PYTHON='"$(PYTHON)"' -DCS_FUZZ_PROGRAM='"$(abspath tests/fuzz/filter_recording.py)"'
build/fuzz/fuzz_filter: | $(BUILD)/callscope extension
fuzz: deps $(addprefix build/fuzz/,$(FUZZERS))
	@for f in $(FUZZERS); do \
	    dict=tests/fuzz/$${f#fuzz_}.dict; test -f $$dict || dict=; \
	    rm -rf build/fuzz/corpus/$$f && mkdir -p build/fuzz/corpus/$$f build/fuzz/findings && \
	    cp tests/fuzz/corpus/$${f#fuzz_}/* build/fuzz/corpus/$$f/ && \
	    build/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build/fuzz/findings/ \
	        $${dict:+-dict=$$dict} build/fuzz/corpus/$$f 2>build/fuzz/$$f.log || { tail -50 build/fuzz/$$f.log; echo "fuzz: $$f found a crash"; exit 1; }; \
	    echo "fuzz: $$f $$(grep -o 'stat::number_of_executed_units: *[0-9]*' build/fuzz/$$f.log | grep -o '[0-9]*$$') executions in $(FUZZ_SECONDS) s, nothing found"; \
	    grep "^$$f: " build/fuzz/$$f.log || true; \
	done
.PHONY: fuzz

# The Debian packages the build needs, installed when missing.
deps:
	@scripts/install-deps.sh

# CPython 3.14 and 3.15 for the tests and benchmarks, installed when missing.
pythons:
	@CALLSCOPE_PYTHONS=$(CALLSCOPE_PYTHONS) scripts/install-pythons.sh
.PHONY: pythons

test: deps pythons
	$(MAKE) --no-print-directory test-c test-asan test-python
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60

# The bench-only no-op hook (the floor under any tracer), one per Python.
BENCH_HOOK = $(BUILD)/bench/_noop_hook$(PY_EXT_SUFFIX)
$(BENCH_HOOK): bench/noop_hook.c
	@mkdir -p $(BUILD)/bench
	$(CC) $(CPPFLAGS) -I$(PY_INCLUDE) $(CFLAGS) $(DEPFLAGS) -MF $@.d -MT $@ -fPIC -shared -o $@ $<
bench-hook: $(BENCH_HOOK)
.PHONY: bench-hook

# What live observation costs the observed program (bench/live_bench.py);
# the instruction counts need valgrind's headers for the counting window.
$(BUILD)/bench/ir_window.so: bench/ir_window.c
	@mkdir -p $(BUILD)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared -o $@ $<
IR_WINDOW = $(if $(wildcard /usr/include/valgrind/callgrind.h),$(BUILD)/bench/ir_window.so)

bench: deps pythons
	@$(MAKE) --no-print-directory bench-all
bench-all: all-pythons $(BUILD)/collector_bench $(BUILD)/sqlite_floor $(IR_WINDOW)
	@for p in $(ALL_PYTHONS); do $(MAKE) --no-print-directory bench-hook PYTHON=$$p || echo "bench: no no-op hook for $$p"; done
	@python3 bench/run.py $(ALL_PYTHONS)
	@python3 bench/live_bench.py $(ALL_PYTHONS)
	@python3 bench/filter_bench.py 10000000
	@python3 bench/export_bench.py 10000000

# What live observation costs the observed program (bench/live_bench.py).
live-bench: all-pythons $(IR_WINDOW)
	@python3 bench/live_bench.py $(ALL_PYTHONS)
.PHONY: live-bench

# What `callscope top` costs a CPU-bound target (bench/top_bench.py).
top-bench: all-pythons $(IR_WINDOW)
	@CALLSCOPE_BIN=$(BUILD)/callscope python3 bench/top_bench.py $(ALL_PYTHONS)
.PHONY: top-bench

# The collector's own rate and the store's size per call (bench/collector_bench.c),
# and the floor under it: SQLite alone writing a recording's rows
# (bench/sqlite_floor.c). Both link the library the binary links, so they
# measure the code it runs, compiled the same way.
$(BUILD)/collector_bench $(BUILD)/sqlite_floor: $(BUILD)/%: bench/%.c $(LIB_A)
	@mkdir -p $(BUILD)
	$(CC) $(CPPFLAGS) -Itests/c $(CFLAGS) $(DEPFLAGS) -MF $@.d -MT $@ -o $@ $< $(LIB_A) $(LIBS)
collector-bench: $(BUILD)/collector_bench
	$(BUILD)/collector_bench 2000000
.PHONY: collector-bench

# What --filter costs on a large recorded store (bench/filter_bench.py; CALLS=N, default 10 million).
filter-bench: extension
	python3 bench/filter_bench.py $(or $(CALLS),10000000)
.PHONY: filter-bench
# `callscope export` in every format from a store of 2 million calls (bench/export_bench.py).
export-bench: $(BUILD)/collector_bench $(BUILD)/callscope
	python3 bench/export_bench.py $(or $(CALLS),2000000)
.PHONY: export-bench

# How quickly `callscope view` answers on a large store (bench/view_bench.py; needs tmux).
view-bench: $(BUILD)/collector_bench $(BUILD)/callscope
	python3 bench/view_bench.py $(or $(CALLS),2000000)
.PHONY: view-bench

demo: deps
	$(MAKE) --no-print-directory all
	$(BUILD)/callscope run --no-stdlib -o $(BUILD)/demo.db examples/demo.py
	$(BUILD)/callscope show $(BUILD)/demo.db
	$(BUILD)/callscope stats $(BUILD)/demo.db

clean:
	rm -rf build

FORCE:
.PHONY: FORCE

# The headers each object, test and bench program read when it was last built.
-include $(wildcard $(BUILD)/*.d $(PKG_DIR)/*.d $(BUILD)/obj/*/*.d $(EXT_OBJ_DIR)/*/*.d $(BUILD)/tests/*.d \
    $(BUILD)/bench/*.d $(BUILD)/checked/obj/*/*.d $(BUILD)/checked/tests/*.d build/fuzz/*.d build/fuzz/obj/*/*.d)
