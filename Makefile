# Two entry points for newcomers: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
RESULTS ?= TestResults
ADAN := bin/adan

.PHONY: all bootstrap build demo test bench clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	$(DOTNET) build Adan.sln -c $(CONFIG) -nologo -clp:NoSummary -v minimal
	@mkdir -p bin
	@ln -sfn ../src/Worker/bin/$(CONFIG)/net10.0/adan $(ADAN)

demo: build
	bash scripts/demo.sh

test: build
	@rm -rf $(RESULTS)
	@set +e; $(DOTNET) test Adan.sln -c $(CONFIG) --no-build -nologo --logger trx --results-directory $(RESULTS) ; \
	  status=$$?; bash scripts/test-summary.sh $(RESULTS); summary=$$?; \
	  if [ $$status -ne 0 ] || [ $$summary -ne 0 ]; then exit 1; fi

bench: build
	bash scripts/bench.sh

clean:
	$(DOTNET) clean Adan.sln -nologo -v q
	rm -rf bin $(RESULTS)
