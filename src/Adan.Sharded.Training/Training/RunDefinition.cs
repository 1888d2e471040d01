using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Models;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// What a run trains, apart from how: its data and task, its model, and how a checkpoint names the model. The
/// built-in definition (<see cref="BuiltIn"/>) reads them from the config's <c>model</c> and <c>dataset</c> keys, as
/// <c>adan train</c> does; <see cref="TrainingJob"/> takes them from the application.
/// </summary>
internal sealed class RunDefinition
{
    /// <summary>Loads the train, validation and test sets and the task; called once per rank, on its compute thread.</summary>
    public required Func<TrainingData> LoadData { get; init; }

    /// <summary>
    /// Builds the model for the loaded data, after torch's generator was seeded with the config's <c>seed</c>: every
    /// rank builds the same initial weights, and rank 0's are broadcast to make it a guarantee.
    /// </summary>
    public required Func<TrainingData, nn.Module<Tensor, Tensor>> CreateModel { get; init; }

    /// <summary>
    /// The architecture a checkpoint records so that exported weights load into a fresh model by name (the built-in
    /// models); null where the application owns the model's code.
    /// </summary>
    public required Func<TrainingData, ModelArchitecture?> Architecture { get; init; }

    /// <summary>The model's name in checkpoints and <c>summary.json</c>.</summary>
    public required string ModelName { get; init; }

    /// <summary>Whether the model is one of the built-in ones the config's architecture keys describe.</summary>
    public bool IsBuiltIn { get; private init; }

    /// <summary>The model and data the config's keys name (<c>model</c>, <c>dataset</c> and their size keys).</summary>
    public static RunDefinition BuiltIn(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new RunDefinition
        {
            LoadData = () => TrainingData.Load(config),
            CreateModel = data => ModelFactory.Create(config, data.VocabularySize),
            Architecture = data => ModelArchitecture.Of(config, data.VocabularySize),
            ModelName = ConfigBinder.Name(config.Model),
            IsBuiltIn = true,
        };
    }
}
