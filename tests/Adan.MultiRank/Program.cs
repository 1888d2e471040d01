using Adan.MultiRank;

// Entry point the multi-rank test harness starts under mpiexec.mpich: `Adan.MultiRank SCENARIO ARGS...`.
// A scenario prints what the test checks and exits non-zero (with the reason on stderr) on failure.
return Scenarios.Run(args);
