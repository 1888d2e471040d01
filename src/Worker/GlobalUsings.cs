// The trainer library's core namespace (exit codes, usage errors, the trainer) is every command's vocabulary.
global using Adan.Sharded.Training;
