# ocibuild: `make` builds ./ocibuild and ./libocibuild.a; `make test` runs
# every test; `make check-asan` runs them again under ASan + UBSan;
# `make check-tsan` runs the threaded parts under ThreadSanitizer; `make
# check` does all three. See CONTRIBUTING.md.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config
O ?= build
BIN ?= .

PKGS := jansson libzstd libdeflate zlib libcrypto libelf libcurl libarchive libsodium
# Debian package providing each pkg-config module, for the error message.
DEB_jansson := libjansson-dev
DEB_libzstd := libzstd-dev
DEB_libdeflate := libdeflate-dev
DEB_zlib := zlib1g-dev
DEB_libcrypto := libssl-dev
DEB_libelf := libelf-dev
DEB_libcurl := libcurl4-openssl-dev
DEB_libarchive := libarchive-dev
DEB_libsodium := libsodium-dev

ifeq ($(filter clean help,$(MAKECMDGOALS)),)
MISSING := $(foreach p,$(PKGS),$(if $(shell $(PKG_CONFIG) --exists $(p) 2>/dev/null && echo y),,$(DEB_$(p))))
ifneq ($(strip $(MISSING)),)
$(error missing build dependencies: install them with `apt-get install -y pkg-config $(MISSING)`)
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
# libcurl and libarchive are loaded when first needed (src/lib/util/dl.c),
# by the soname of the library the compiler would link against
DL_PKGS := libcurl libarchive
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(filter-out $(DL_PKGS),$(PKGS)))
soname = $(shell objdump -p $$($(CC) -print-file-name=$(1).so) 2>/dev/null | awk '$$1 == "SONAME" { print $$2 }')
CURL_SONAME := $(call soname,libcurl)
ARCHIVE_SONAME := $(call soname,libarchive)
DL_CFLAGS := $(if $(CURL_SONAME),-DOCI_CURL_SONAME='"$(CURL_SONAME)"') \
             $(if $(ARCHIVE_SONAME),-DOCI_ARCHIVE_SONAME='"$(ARCHIVE_SONAME)"')
endif

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wwrite-strings -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# and OCIBUILD_FAIL_ALLOC=N (src/lib/util/mem.c), for tests/e2e/t_faults.sh
FAULTFLAGS := -DOCI_FAULT_INJECTION
endif
ifeq ($(TSAN),1)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) $(FAULTFLAGS) -pthread -Iinclude -Isrc/lib -Isrc/lib/util \
              -D_GNU_SOURCE $(PKG_CFLAGS) $(DL_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS) -pthread
LIBS := $(PKG_LIBS) -ldl -lpthread

LIB_SRC := $(sort $(wildcard src/lib/*.c src/lib/util/*.c))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(O)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)

# The end-to-end and integration tests start images in a chroot, so they
# need root: through sudo for a user, as they are for root (which may have
# no sudo at all, as in a fresh Debian container).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

LIBA := $(BIN)/libocibuild.a
# every symbol, for the unit tests and fuzz harnesses that test internals
LIBA_INT := $(O)/libocibuild-internal.a
EXE := $(BIN)/ocibuild

.PHONY: all test unit e2e integrations check-symbols check check-asan install uninstall clean demo bench \
	fuzz-replay fuzz fuzz-build fuzz-merge check-tsan

all: $(EXE) $(LIBA)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The installed archive is one relocatable object whose only global
# symbols are the public ocibuild_* API: internal names cannot clash with
# a user's. `make check-symbols` proves it.
$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@) $(O)
	$(LD) -r -o $(O)/libocibuild.o $^
	objcopy -w --keep-global-symbol='ocibuild_*' $(O)/libocibuild.o
	rm -f $@
	ar rcs $@ $(O)/libocibuild.o

$(LIBA_INT): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(EXE): $(CLI_OBJ) $(LIBA)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LIBS)

$(O)/tests/%: tests/unit/%.c tests/unit/cmocka_filter.c $(LIBA_INT)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< tests/unit/cmocka_filter.c $(LIBA_INT) $(LIBS) -lcmocka

unit: $(UNIT_BIN)
	@n=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || exit 1; n=$$((n+1)); done; \
	 if [ $$n -eq 0 ]; then echo "no unit tests ran"; exit 1; fi

# E2E_JOBS (tests at once) and FAULTS_FULL pass through sudo, which would
# drop them from the environment
E2E_ENV := $(if $(E2E_JOBS),E2E_JOBS='$(E2E_JOBS)') $(if $(FAULTS_FULL),FAULTS_FULL='$(FAULTS_FULL)')
e2e: $(EXE)
	$(SUDO) env OCIBUILD=$(abspath $(EXE)) $(E2E_ENV) tests/e2e/run.sh '$(T)'

# One libFuzzer harness per parser of outside input: tests/fuzz/fuzz_NAME.c,
# its corpus in tests/fuzz/corpus/NAME/.
FUZZERS := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

# The fuzz corpora replayed through the harnesses with any compiler.
$(O)/tests/fuzz_replay_%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c $(LIBA_INT)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/fuzz/replay.c tests/fuzz/fuzz_$*.c $(LIBA_INT) $(LIBS)

fuzz-replay: $(FUZZERS:%=$(O)/tests/fuzz_replay_%)
	@for f in $(FUZZERS); do $(O)/tests/fuzz_replay_$$f tests/fuzz/corpus/$$f || exit 1; done

# Coverage-guided fuzzing with clang's libFuzzer, FUZZ_TIME seconds per
# harness (not part of `test`); FUZZ=NAME... picks harnesses, and
# tests/fuzz/dict/NAME.dict, if there, gives libFuzzer words to try. New inputs go
# to build-fuzz/corpus/NAME/, crashes to build-fuzz/NAME-crash-*;
# `make fuzz-merge` then adds to tests/fuzz/corpus/ only the inputs that
# reach code (edges, not hit counts, to keep it small) the committed corpus
# does not.
FUZZ_TIME ?= 60
FUZZ ?= $(FUZZERS)
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
$(O)/fuzz/%: tests/fuzz/%.c $(LIBA_INT)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ $< $(LIBA_INT) $(LIBS)

fuzz-build:
	$(MAKE) O=build-fuzz BIN=build-fuzz CC=clang CFLAGS='$(FUZZ_CFLAGS)' \
		$(FUZZ:%=build-fuzz/fuzz/fuzz_%)

fuzz: fuzz-build
	@set -e; for f in $(FUZZ); do \
		mkdir -p build-fuzz/corpus/$$f; \
		echo "== fuzz_$$f for $(FUZZ_TIME)s"; \
		dict=; [ ! -f tests/fuzz/dict/$$f.dict ] || dict=-dict=tests/fuzz/dict/$$f.dict; \
		build-fuzz/fuzz/fuzz_$$f -max_total_time=$(FUZZ_TIME) -artifact_prefix=build-fuzz/$$f- \
			$$dict build-fuzz/corpus/$$f tests/fuzz/corpus/$$f; \
	done

fuzz-merge: fuzz-build
	@set -e; for f in $(FUZZ); do \
		mkdir -p build-fuzz/corpus/$$f; \
		build-fuzz/fuzz/fuzz_$$f -merge=1 -use_counters=0 tests/fuzz/corpus/$$f build-fuzz/corpus/$$f; \
	done

# The rebar3 plugin and the Mix task, used from fresh projects as a user would.
integrations:
	$(SUDO) tests/integrations/run.sh

# Only ocibuild_* may be global in the installed library.
check-symbols: $(LIBA)
	@bad=$$(nm -g --defined-only $(LIBA) | awk 'NF == 3 && $$3 !~ /^ocibuild_/ {print $$3}'); \
	 if [ -n "$$bad" ]; then echo "non-public global symbols in $(LIBA):"; echo "$$bad"; exit 1; fi; \
	 n=$$(nm -g --defined-only $(LIBA) | awk 'NF == 3' | wc -l); \
	 echo "check-symbols: $$n global symbols, all ocibuild_*"; [ $$n -gt 0 ]

test: check-symbols unit fuzz-replay e2e integrations

# The whole suite again, built with AddressSanitizer and UBSan.
check-asan:
	$(MAKE) O=build-asan BIN=build-asan SAN=1 check-symbols unit fuzz-replay e2e

# ThreadSanitizer over what runs threads: the unit tests, and the e2e tests
# of parallel compression (compress.c) and of pushes through the upload
# pool (transfer.c), with the registry in each auth mode. Any report fails
# it, also one from a run whose exit status a test expected to be non-zero.
TSAN_E2E ?= compression|cache_gzip_blocks_reused|cache_from_jobs|cache_from_explicit|cache_from_streamed|cache_from_bad_input|cache_from_app_blocks|stream_|repro_jobs|repro_walk_threads|push_copy|multi_tags|parallel_uploads|upload_once|chunked_upload|token_refresh|tty_progress|killed_mid_upload|retry_after|platforms_registry_push|platforms_reproducible
check-tsan:
	$(MAKE) O=build-tsan BIN=build-tsan TSAN=1 build-tsan/ocibuild $(UNIT_BIN:$(O)/%=build-tsan/%)
	@rm -rf build-tsan/reports && mkdir -p build-tsan/reports
	@export TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp) halt_on_error=1 second_deadlock_stack=1 log_path=$(abspath build-tsan/reports)/tsan"; \
	 n=0; for t in $(UNIT_BIN:$(O)/%=build-tsan/%); do echo "== $$t"; $$t || exit 1; n=$$((n+1)); done; \
	 [ $$n -gt 0 ] || { echo "no unit tests ran"; exit 1; }; \
	 OCIBUILD=$(abspath build-tsan/ocibuild) tests/e2e/run.sh '$(TSAN_E2E)'; rc=$$?; \
	 if ls build-tsan/reports/tsan.* >/dev/null 2>&1; then \
		echo "ThreadSanitizer reports:"; cat build-tsan/reports/tsan.*; exit 1; fi; \
	 exit $$rc

# What CI runs: warnings are errors, then the suite plain and sanitized.
check:
	$(MAKE) WERROR=1 test
	$(MAKE) WERROR=1 check-asan
	$(MAKE) WERROR=1 check-tsan

demo: $(EXE)
	examples/demo.sh

# the bench input, then the same shape four times as large (peak memory must not grow)
bench: $(EXE)
	bench/run.sh
	BENCH_INPUT_MB=240 BENCH_INPUT_FILES=20000 bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/ocibuild
	install -m 0755 $(EXE) $(DESTDIR)$(PREFIX)/bin/ocibuild
	install -m 0644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/libocibuild.a
	install -m 0644 include/ocibuild/ocibuild.h $(DESTDIR)$(PREFIX)/include/ocibuild/ocibuild.h

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ocibuild $(DESTDIR)$(PREFIX)/lib/libocibuild.a
	rm -rf $(DESTDIR)$(PREFIX)/include/ocibuild

clean:
	rm -rf build build-asan build-tsan build-fuzz ocibuild libocibuild.a

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
