# banger: build, install, test. `make install` then `banger vm run --name sandbox`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib/banger
# The node that builds the native modules is the one the launchers pin: the
# better-sqlite3 addon only loads into the Node ABI it was compiled for.
NODE ?= $(shell command -v node)
NPX ?= npx

# Host tools banger drives at run time (libs/host/src/packages.ts maps tools to these).
RUNTIME_PACKAGES := qemu-system-x86 qemu-utils e2fsprogs mmdebstrap zstd iproute2 nftables \
	openssh-client sudo git cpio busybox-static kmod xz-utils rsync bash-completion ca-certificates \
	gpgv debian-archive-keyring dpkg util-linux
# Needed by `npm ci` to compile better-sqlite3 and ssh2's optional crypto from source, and (gcc,
# libc6-dev's static libc) to build the guest agent's static PTY helper, banger-pty.
BUILD_PACKAGES := python3 make g++ gcc libc6-dev
# Only the test suite uses these (a real sshd, a local OCI registry, DNS and tty tools).
TEST_PACKAGES := openssh-server docker-registry skopeo umoci dnsutils tmux socat file binutils procps gnupg attr lz4 zsh fish

# Runs privileged steps through sudo -n when not root (never prompts).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
# Install with sudo only when PREFIX is not writable by us.
PRIV := $(shell if [ -w "$(PREFIX)" ]; then :; else [ "$$(id -u)" = 0 ] || echo sudo -n; fi)

EXTERNALS := better-sqlite3 ssh2 cpu-features
BUNDLES := apps/cli/dist/banger.cjs apps/cli/dist/banger-cli.cjs apps/daemon/dist/bangerd.js apps/vsock-agent/dist/banger-vsock-agent.js
# Native files installed beside the bundles: the guest agent's PTY helper, vsock relay and RNG reseeder (static, copied onto the runtime disk).
NATIVE := apps/vsock-agent/dist/banger-pty apps/vsock-agent/dist/banger-vsock-relay apps/vsock-agent/dist/banger-reseed

.PHONY: help install uninstall host-packages check-node deps build stage test test-cold bench print-ci-packages

help:
	@echo "make install     install host packages, npm deps, build, install banger/bangerd into $(BINDIR)"
	@echo "make uninstall   stop the daemon and remove what make install installed"
	@echo "make test        build, typecheck and test every project; ends with 'tests: N passed, M failed'"
	@echo "make test-cold   the same, slow tests included, against empty test caches and no nx cache (as on a new machine)"
	@echo "make bench       run tools/bench"

install: host-packages check-node deps build stage

host-packages:
	@pkgs="$(RUNTIME_PACKAGES) $(BUILD_PACKAGES)"; \
	if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  missing=$$(for p in $$pkgs; do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done | xargs); \
	  if [ -n "$$missing" ]; then \
	    echo "make install: installing host packages: $$missing"; \
	    $(SUDO) apt-get install -y --no-install-recommends $$missing \
	      || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; } \
	      || { echo "make install: could not install $$missing (hint: run: sudo apt-get install $$missing)" >&2; exit 1; }; \
	  fi; \
	else \
	  echo "make install: not a Debian/Ubuntu host; install the equivalents of: $$pkgs" >&2; \
	fi

check-node:
	@[ -n "$(NODE)" ] || { echo "make install: node not found (hint: install Node.js 20.19+ or 22+)" >&2; exit 1; }
	@$(NODE) -e 'const [a,b]=process.versions.node.split(".").map(Number); if (!(a>=22 || (a===20 && b>=19))) { console.error("make install: Node " + process.version + " is too old (hint: install Node.js 20.19+ or 22+)"); process.exit(1) }'

# npm ci only when the lockfile changed since the last install: it recompiles
# better-sqlite3, which takes minutes on a small machine.
deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package-lock.json package.json
	npm ci
	@touch $@

build: deps
	$(NPX) nx run-many -t build -p @banger/cli @banger/daemon @banger/vsock-agent

# Stages a self-contained tree next to LIBDIR, then swaps it in, so a failed
# install never leaves a half-copied tree behind.
stage:
	@if [ -n "$(PRIV)" ] && ! sudo -n true 2>/dev/null; then \
	  echo "make install: $(PREFIX) is not writable and sudo needs a password (hint: run sudo -v first, or make install PREFIX=\$$HOME/.local)" >&2; exit 1; fi
	@set -e; tmp="$(LIBDIR).new"; \
	$(PRIV) rm -rf "$$tmp"; $(PRIV) mkdir -p "$$tmp" "$(BINDIR)"; \
	$(PRIV) cp $(BUNDLES) $(addsuffix .map,$(BUNDLES)) $(NATIVE) "$$tmp/"; \
	echo '{ "name": "banger-installed", "private": true, "type": "module" }' | $(PRIV) tee "$$tmp/package.json" >/dev/null; \
	$(PRIV) $(NODE) apps/cli/scripts/stage-node-modules.mjs "$$tmp" $(EXTERNALS); \
	$(PRIV) chmod 755 "$$tmp"/*.js "$$tmp"/banger.cjs; \
	$(PRIV) rm -rf "$(LIBDIR).old"; \
	if [ -e "$(LIBDIR)" ]; then $(PRIV) mv "$(LIBDIR)" "$(LIBDIR).old"; fi; \
	$(PRIV) mv "$$tmp" "$(LIBDIR)"; $(PRIV) rm -rf "$(LIBDIR).old"; \
	for entry in banger:banger.cjs bangerd:bangerd.js; do bin=$${entry%%:*}; \
	  printf '#!/bin/sh\nexec %s %s/%s "$$@"\n' "$(NODE)" "$(LIBDIR)" "$${entry#*:}" | $(PRIV) tee "$(BINDIR)/$$bin.new" >/dev/null; \
	  $(PRIV) chmod 755 "$(BINDIR)/$$bin.new"; $(PRIV) mv "$(BINDIR)/$$bin.new" "$(BINDIR)/$$bin"; \
	done; \
	echo "installed banger and bangerd into $(BINDIR), the daemon tree and banger-vsock-agent into $(LIBDIR)"

uninstall:
	@if [ -x "$(BINDIR)/banger" ]; then "$(BINDIR)/banger" daemon stop || true; fi
	$(PRIV) rm -f "$(BINDIR)/banger" "$(BINDIR)/bangerd"
	$(PRIV) rm -rf "$(LIBDIR)" "$(LIBDIR).new" "$(LIBDIR).old"
	@echo "banger is uninstalled. User data stays in place; rm -rf these for a full purge:"
	@echo "  $${XDG_CONFIG_HOME:-$$HOME/.config}/banger/      config, managed SSH keys"
	@echo "  $${XDG_STATE_HOME:-$$HOME/.local/state}/banger/  VM records, rootfs images, kernels, daemon DB/log"
	@echo "  $${XDG_CACHE_HOME:-$$HOME/.cache}/banger/        OCI layer cache"

# The whole suite. CI reads the last line, exactly `tests: N passed, M failed`,
# summed from every vitest summary (cached tasks replay theirs); on a failure the lines
# above it say why each failed task failed (CI keeps only the tail), the line before it
# counts skipped tests, and a file failing outside its tests counts as failed. Narrow it with
# e.g. make test TEST_TARGETS="-t test -p @banger/api".
TEST_TARGETS ?= -t build typecheck test --parallel=2
test:
	@# nx refuses to run tasks while tsconfig references lag behind package.json deps.
	@$(NPX) nx sync >/dev/null
	@log=$$(mktemp); \
	$(NPX) nx run-many $(TEST_TARGETS) 2>&1 | tee "$$log"; status=$${PIPESTATUS[0]}; \
	[ "$$status" = 0 ] || echo "make test: nx exited with status $$status"; \
	$(NODE) tools/scripts/test-summary.mjs "$$log" "$$status"; rm -f "$$log"; exit $$status

# The whole suite as a new machine runs it: slow tests on, every test artefact (kernel bundle,
# images, Debian trees, downloads) built afresh under an empty BANGER_TEST_CACHE, nx's task
# cache bypassed. The user's npm settings, ~/.cache/banger-test and ~/.cache/banger are not
# touched; the temporary cache is removed afterwards. Prints its wall time.
test-cold:
	@cold=$$(mktemp -d "$${TMPDIR:-/var/tmp}/banger-test-cold.XXXXXX"); \
	trap '$(SUDO) rm -rf "$$cold"' EXIT; \
	echo "make test-cold: empty test cache at $$cold"; start=$$(date +%s); \
	BANGER_TEST_CACHE="$$cold" BANGER_SLOW_TESTS="$${BANGER_SLOW_TESTS:-1}" NX_SKIP_NX_CACHE=true \
	  $(MAKE) --no-print-directory test; status=$$?; \
	echo "make test-cold: $$(( $$(date +%s) - start )) s wall, exit $$status"; exit $$status

# Every benchmark, one table: built, the e2e artefacts prepared (needs the network), then run
# inside a throwaway network namespace so the VM-booting rows can create taps. BENCH_FILTER
# narrows it, e.g. make bench BENCH_FILTER='warm vm run'.
bench:
	npm run bench:vm -w tools/bench -- $(BENCH_FILTER)

# What .ci/run installs on a fresh machine.
print-ci-packages:
	@echo $(RUNTIME_PACKAGES) $(BUILD_PACKAGES) $(TEST_PACKAGES)
