using System.Text.Json.Nodes;
using Adan.Sharded.Training.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// What builds a run's model again: the config's architecture keys (<see cref="ConfigKeys.Architecture"/>: the model,
/// the dataset that fixes its input and output sizes, and every model's size keys) and, for the GPT, the vocabulary
/// size its text gave. Recorded in every checkpoint (<c>extra.architecture</c>) and in an export's <c>config.json</c>,
/// so exported weights load into <see cref="Create"/>'s fresh model by name and shape.
/// </summary>
/// <remarks>
/// The JSON form is the architecture keys as a config file spells them plus <c>vocabulary_size</c> (the GPT only). It is
/// read back through <see cref="ConfigBinder"/>, so a recorded value is checked exactly as a config's, and a key that
/// a later version adds to the architecture reads as its default from an older record.
/// </remarks>
internal sealed class ModelArchitecture
{
    /// <summary>The JSON key of the GPT's vocabulary size.</summary>
    public const string VocabularySizeKey = "vocabulary_size";

    private ModelArchitecture(TrainConfig config, int vocabularySize)
    {
        Config = config;
        VocabularySize = vocabularySize;
    }

    /// <summary>A config with the architecture's keys and every other key at its default.</summary>
    public TrainConfig Config { get; }

    /// <summary>The GPT's vocabulary size; 0 for the image models.</summary>
    public int VocabularySize { get; }

    /// <summary>The model's config name (<c>mlp</c>, <c>resnet</c>, <c>vit</c>, <c>gpt</c>).</summary>
    public string ModelName => ConfigBinder.Name(Config.Model);

    /// <summary>The architecture of the model <paramref name="config"/> builds.</summary>
    /// <param name="config">The run's config.</param>
    /// <param name="vocabularySize">The vocabulary size of the GPT's text; ignored by the image models.</param>
    public static ModelArchitecture Of(TrainConfig config, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(config);
        return FromJson(Keys(config, vocabularySize), "the run's config");
    }

    /// <summary>The architecture keys and, for the GPT, <c>vocabulary_size</c>.</summary>
    public JsonObject ToJson() => Keys(Config, VocabularySize);

    /// <summary>Reads an architecture written by <see cref="ToJson"/>.</summary>
    /// <param name="json">The architecture keys, and <c>vocabulary_size</c> for the GPT.</param>
    /// <param name="source">Names the record in errors (a checkpoint, a config.json).</param>
    /// <exception cref="InvalidDataException">A key is not an architecture key, a value is invalid, or the GPT's vocabulary size is missing.</exception>
    public static ModelArchitecture FromJson(JsonObject json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        var keys = new JsonObject();
        var vocabularySize = 0;
        var architecture = ConfigKeys.Architecture.Select(key => key.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var (key, value) in json)
        {
            if (key == VocabularySizeKey)
            {
                vocabularySize = value is JsonValue v && v.TryGetValue<int>(out var size) && size > 0
                    ? size
                    : throw new InvalidDataException($"{source}: {VocabularySizeKey} {value?.ToJsonString() ?? "null"} is not a positive integer.");
                continue;
            }
            if (!architecture.Contains(key))
            {
                throw new InvalidDataException(
                    $"{source}: '{key}' is not an architecture key; the architecture keys are {string.Join(", ", architecture)}, {VocabularySizeKey}.");
            }
            keys[key] = value?.DeepClone();
        }
        TrainConfig config;
        try
        {
            config = ConfigBinder.Bind(keys.ToJsonString(), null, source);
        }
        catch (ConfigException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        if (config.Model == ModelKind.Gpt && vocabularySize == 0)
        {
            throw new InvalidDataException($"{source}: the gpt architecture needs {VocabularySizeKey}, the number of distinct characters of its text.");
        }
        return new ModelArchitecture(config, config.Model == ModelKind.Gpt ? vocabularySize : 0);
    }

    private static JsonObject Keys(TrainConfig config, int vocabularySize)
    {
        var all = ConfigBinder.ToJsonObject(config);
        var json = new JsonObject();
        foreach (var key in ConfigKeys.Architecture)
        {
            json[key.Name] = all[key.Name]?.DeepClone();
        }
        if (config.Model == ModelKind.Gpt)
        {
            json[VocabularySizeKey] = vocabularySize;
        }
        return json;
    }

    /// <summary>A fresh model of this architecture, initialised from the default seed.</summary>
    public nn.Module<Tensor, Tensor> Create() => ModelFactory.Create(Config, VocabularySize);
}
