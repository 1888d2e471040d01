// The trainer library's core namespace (exit codes, usage errors, the trainer) is used across the tests.
global using Adan.Sharded.Training;
