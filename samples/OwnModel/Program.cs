using Adan.Sharded.Training;
using OwnModel;

// Trains SmallCnn on Shapes with the Adan.Sharded trainer. The command line is adan train's: --config FILE and
// --set key=value (every key: adan config keys). Alone it trains on one process; as ranks it trains data-parallel:
//   adan launch -n 2 --program own-model -- --config own-model.json
//   mpiexec.mpich -n 2 own-model --config own-model.json
// A second run with --set resume=latest continues from the last checkpoint (after a failure, adan launch
// --max-restarts passes that itself).
var options = TrainingOptions.FromArgs(args);
var job = new TrainingJob(options, () => new SmallCnn(Shapes.Classes), new ClassificationTask(), () => new Shapes(count: 4096, seed: 1))
{
    Validation = () => new Shapes(count: 1024, seed: 2),
    ModelName = "small-cnn",
};
var result = job.Run();
if (result.Rank == 0)
{
    Console.WriteLine(result.Preempted
        ? $"own-model: preempted after step {result.Steps}; checkpoint {result.LastCheckpoint}"
        : $"own-model: {result.Steps} steps, final loss {result.FinalLoss:F4}, validation accuracy {result.Validation?.Accuracy:P1}");
}
return result.ExitCode;
