# Two entry points for newcomers: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
RESULTS ?= TestResults
ADAN := bin/adan
PACKAGES ?= artifacts/packages
PUBLISH ?= artifacts/publish
# The library projects make pack packs: Adan.Sharded, the trainer Adan.Sharded.Training, and every packable project they
# reference, whose packages are their dependencies.
PACK_PROJECTS := src/Adan.Sharded.Common/Adan.Sharded.Common.csproj src/Adan.Sharded/Adan.Sharded.csproj \
  src/Coordinator.Protocol/Coordinator.Protocol.csproj src/Coordinator.Client/Coordinator.Client.csproj \
  src/Adan.Sharded.Training/Adan.Sharded.Training.csproj

.PHONY: all bootstrap build demo test bench pack packages publish cluster-check clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	$(DOTNET) build Adan.sln -c $(CONFIG) -nologo -clp:NoSummary -v minimal
	@mkdir -p bin
	@ln -sfn ../src/Worker/bin/$(CONFIG)/net10.0/adan $(ADAN)

demo: build
	bash scripts/demo.sh

# The package check (pack, then build and run tests/PackageConsumer against the package) counts as one more test.
# The multi-host tests (namespace hosts) run in a pass of their own after the rest: making and removing their network
# interfaces breaks an MPI start-up that lists interfaces at that moment.
# The suite runs many torch processes on few cores at once: libgomp's threads then wait for each other passively
# (OMP_WAIT_POLICY=passive) instead of spinning on cores another process needs, which made a 6 s test take 70 s under
# the suite's load. Only timing changes, never results; a caller's own OMP_WAIT_POLICY wins.
test: build
	@rm -rf $(RESULTS)
	@set +e; export OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive}; $(DOTNET) test Adan.sln -c $(CONFIG) --no-build -nologo --logger trx --results-directory $(RESULTS) --filter "Category!=MultiHost" ; \
	  status=$$?; \
	  $(DOTNET) test tests/Worker.Tests -c $(CONFIG) --no-build -nologo --logger "trx;LogFileName=multihost.trx" --results-directory $(RESULTS) \
	    --filter "Category=MultiHost" ; \
	  multihost=$$?; DOTNET=$(DOTNET) CONFIG=$(CONFIG) bash scripts/package-check.sh $(RESULTS); \
	  bash scripts/test-summary.sh $(RESULTS); summary=$$?; \
	  if [ $$status -ne 0 ] || [ $$multihost -ne 0 ] || [ $$summary -ne 0 ]; then exit 1; fi

# NuGet packages of the library, with XML docs and README, in $(PACKAGES).
pack: build packages

# Packs PACK_PROJECTS as the last build left them, without building again.
packages:
	@mkdir -p $(PACKAGES)
	@for project in $(PACK_PROJECTS); do \
	  $(DOTNET) pack $$project -c $(CONFIG) --no-build -nologo -v minimal -o $(PACKAGES) || exit 1; \
	done

bench: build
	bash scripts/bench.sh

# The published adan (with the coordinator in coordinator/) in $(PUBLISH); deploy/Containerfile's build stage runs this
# same command (a test compares them).
publish:
	$(DOTNET) publish src/Worker -c $(CONFIG) -o $(PUBLISH)

# deploy/slurm.sbatch (a job, and one preempted that requeues itself), srun and adan sweep --slurm run for real on a
# one-node Slurm cluster started and removed by the script (root; not in make test).
cluster-check: build
	bash scripts/slurm-check.sh

clean:
	$(DOTNET) clean Adan.sln -nologo -v q
	rm -rf bin $(RESULTS) $(PACKAGES) $(PUBLISH) tests/PackageConsumer/bin tests/PackageConsumer/obj
