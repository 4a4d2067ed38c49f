# paperbus — build, test, benchmark and run.
#
#   make          build every program (release, -Wall -Wextra -Werror)
#   make test     build with AddressSanitizer + UBSan and run every test
#   make bench    run the benchmarks and rewrite tests/bench/RESULTS.md
#   make run      start everything in the foreground; Ctrl-C stops it
#   make up       start everything in the background; make down stops it
#
# Each public target first runs deploy/install-deps.sh, so on a fresh Debian
# machine these commands are all a newcomer needs. Builds go to build/MODE/.

MODE ?= release
BUILD := build/$(MODE)

PACKAGES := libczmq libzmq msgpack libpq jansson yajl libxml-2.0 libcurl libzstd libsodium \
            libmicrohttpd
CC ?= cc
WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla
ifeq ($(MODE),asan)
OPTIMISE := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
OPTIMISE := -O2 -g
endif
CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARNINGS) $(OPTIMISE) -Icommon -Iservices -Itests/support -MMD -MP \
          $(shell pkg-config --cflags $(PACKAGES) 2>/dev/null)
LDFLAGS := $(filter -fsanitize=%,$(OPTIMISE))
LIBS := $(shell pkg-config --libs $(PACKAGES) 2>/dev/null) -lstemmer -lm -lpthread
TEST_LIBS := $(shell pkg-config --libs criterion 2>/dev/null)

COMMON_SOURCES := $(wildcard common/*.c)
MIGRATIONS := $(sort $(wildcard deploy/migrations/*.sql))
GENERATED := $(BUILD)/gen/pb_migrations.c
LIBRARY := $(BUILD)/libpaperbus.a

SERVICES := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/main.c))))
PROGRAMS := $(SERVICES:%=$(BUILD)/bin/%)
# A service's code but its main, for the tests and benchmarks that drive it
# in-process (the index engine, say).
SERVICE_LIBRARIES := $(SERVICES:%=$(BUILD)/lib/lib%.a)

TEST_SUITES := unit integration restart
TEST_SUPPORT := $(wildcard tests/support/*.c)
TEST_BINARIES := $(TEST_SUITES:%=$(BUILD)/tests/%)
TEST_PROGRAMS := $(patsubst tests/programs/%.c,$(BUILD)/tests/programs/%,$(wildcard tests/programs/*.c))
BENCH_SOURCES := $(wildcard tests/bench/bench_*.c)
BENCH_BINARIES := $(BENCH_SOURCES:tests/bench/%.c=$(BUILD)/bench/%)

objects = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# `make V=1` prints whole command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all test bench run up down status clean format lint deps programs test-binaries \
        bench-binaries
.DEFAULT_GOAL := all
# Keep intermediate objects so that rebuilds stay incremental.
.SECONDARY:

all: deps
	@$(MAKE) --no-print-directory MODE=release programs

deps:
	@deploy/install-deps.sh

programs: $(PROGRAMS)

test-binaries: $(PROGRAMS) $(TEST_BINARIES) $(TEST_PROGRAMS)

bench-binaries: $(PROGRAMS) $(BENCH_BINARIES)

test: deps
	@$(MAKE) --no-print-directory MODE=asan test-binaries
	@$(MAKE) --no-print-directory MODE=release programs
	tests/run.sh build/asan

bench: deps
	@$(MAKE) --no-print-directory MODE=release bench-binaries
	tests/bench/run.sh build/release

run: all
	deploy/stack.sh run

up: all
	deploy/stack.sh up

down:
	deploy/stack.sh down

status:
	deploy/stack.sh status

clean:
	rm -rf build

format:
	clang-format -i common/*.[ch] services/*/*.[ch] tests/*/*.[ch]

lint:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
	    --inline-suppr --suppress=unknownMacro -Icommon common services tests

# ---- rules ----

$(GENERATED): deploy/embed-migrations.sh $(MIGRATIONS)
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)deploy/embed-migrations.sh $@ $(MIGRATIONS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIBRARY): $(call objects,$(COMMON_SOURCES)) $(BUILD)/obj/gen/pb_migrations.o
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

define program_rule
$(BUILD)/lib/lib$(1).a: $(call objects,$(filter-out services/$(1)/main.c,$(wildcard services/$(1)/*.c)))
	@mkdir -p $$(dir $$@)
	@echo "  AR      $$@"
	$(Q)rm -f $$@ && ar rcs $$@ $$^

$(BUILD)/bin/$(1): $(call objects,services/$(1)/main.c) $(BUILD)/lib/lib$(1).a $(LIBRARY)
	@mkdir -p $$(dir $$@)
	@echo "  LINK    $$@"
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach service,$(SERVICES),$(eval $(call program_rule,$(service))))

# The web page is part of the gateway: its files are compiled in.
SITE_FILES := $(sort $(wildcard $(addprefix services/gateway/www/*.,html css js mjs svg png ico json txt webmanifest)))
$(BUILD)/gen/gw_site.c: deploy/embed-site.sh $(SITE_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)deploy/embed-site.sh $@ $(SITE_FILES)
$(BUILD)/lib/libgateway.a: $(BUILD)/obj/gen/gw_site.o

define test_rule
$(BUILD)/tests/$(1): $(call objects,$(wildcard tests/$(1)/*.c) $(TEST_SUPPORT)) $(SERVICE_LIBRARIES) $(LIBRARY)
	@mkdir -p $$(dir $$@)
	@echo "  LINK    $$@"
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS) $$(TEST_LIBS)
endef
$(foreach suite,$(TEST_SUITES),$(eval $(call test_rule,$(suite))))

$(BUILD)/tests/programs/%: $(BUILD)/obj/tests/programs/%.o $(LIBRARY)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(call objects,$(TEST_SUPPORT)) $(SERVICE_LIBRARIES) $(LIBRARY)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

-include $(shell find build/$(MODE)/obj -name '*.d' 2>/dev/null)
