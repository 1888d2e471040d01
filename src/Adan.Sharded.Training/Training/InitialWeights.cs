using Adan.Sharded.Checkpoints;
using Adan.Sharded.Training.Config;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// What a freshly built model starts from besides its seed: weights exported by <c>adan checkpoint export</c>
/// (<c>init_weights</c>), and which parameters stay frozen (<c>freeze</c>). Applied to the model on the host, before
/// it moves to its device and is flattened, so that frozen parameters never enter the flat buffer.
/// </summary>
internal static class InitialWeights
{
    /// <summary>Loads <c>init_weights</c> into <paramref name="model"/>, then freezes the <c>freeze</c> parameters.</summary>
    /// <exception cref="ConfigException">The weights do not match the model (a name missing or extra, another shape or dtype), or a freeze entry names no parameter.</exception>
    /// <exception cref="CheckpointException">The weights file is missing or not valid safetensors.</exception>
    public static void Apply(nn.Module model, TrainConfig config)
    {
        if (config.InitWeights.Length > 0)
        {
            Load(model, ResolveFile(config.InitWeights));
        }
        if (config.Freeze.Length > 0)
        {
            Freeze(model, config.Freeze);
        }
    }

    /// <summary>
    /// Copies every parameter and checkpointed buffer (fp32, fp64, int64) of <paramref name="model"/> from the
    /// safetensors file at <paramref name="path"/> by name, after checking them all: the file must hold exactly those
    /// names, with the model's shapes and dtypes. Nothing is changed when a check fails.
    /// </summary>
    /// <exception cref="ConfigException">A name, shape or dtype does not match; the message names the first.</exception>
    public static void Load(nn.Module model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var file = SafetensorsFile.Open(path);
        var targets = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(model.named_buffers().Where(b => ModelBuffers.DType(b.buffer.dtype) is not null)).ToList();
        foreach (var (name, tensor) in targets)
        {
            if (!file.Tensors.TryGetValue(name, out var saved))
            {
                throw new ConfigException($"Invalid init_weights: {path} has no tensor '{name}' of this model; export the checkpoint of a run with this model's architecture.");
            }
            var dtype = ModelBuffers.DType(tensor.dtype);
            if (saved.DType != dtype || !saved.Shape.SequenceEqual(tensor.shape))
            {
                throw new ConfigException(
                    $"Invalid init_weights: {path} has '{name}' as {saved.DType} [{string.Join(", ", saved.Shape)}], this model has {dtype} [{string.Join(", ", tensor.shape)}].");
            }
        }
        var names = targets.Select(t => t.Item1).ToHashSet(StringComparer.Ordinal);
        if (file.Tensors.Keys.FirstOrDefault(n => !names.Contains(n)) is { } extra)
        {
            throw new ConfigException($"Invalid init_weights: {path} has '{extra}', which is no parameter or buffer of this model; export the checkpoint of a run with this model's architecture.");
        }
        foreach (var (name, tensor) in targets)
        {
            var saved = file.Tensor(name);
            var bytes = new byte[saved.End - saved.Begin];
            file.ReadBytes(name, bytes);
            ModelBuffers.Fill(tensor, bytes);
        }
    }

    /// <summary>The weights file <paramref name="path"/> names: the file, or the one <c>.safetensors</c> file in the folder.</summary>
    /// <exception cref="ConfigException">Neither a file nor a folder with exactly one safetensors file.</exception>
    public static string ResolveFile(string path)
    {
        if (File.Exists(path))
        {
            return path;
        }
        if (!Directory.Exists(path))
        {
            throw new ConfigException($"Invalid init_weights: {path} does not exist; name the safetensors file written by adan checkpoint export, or its folder.");
        }
        var files = Directory.GetFiles(path, "*.safetensors");
        return files.Length == 1
            ? files[0]
            : throw new ConfigException(
                $"Invalid init_weights: the folder {path} holds {files.Length} safetensors files; name the one to load (init_weights=FILE).");
    }

    /// <summary>Clears <c>requires_grad</c> of every parameter named by, or inside a module named by, an entry of <paramref name="freeze"/>.</summary>
    /// <exception cref="ConfigException">An entry names no parameter.</exception>
    public static void Freeze(nn.Module model, string freeze)
    {
        var parameters = model.named_parameters().ToList();
        foreach (var entry in freeze.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var matched = parameters.Where(p => p.name == entry || p.name.StartsWith(entry + ".", StringComparison.Ordinal)).ToList();
            if (matched.Count == 0)
            {
                throw new ConfigException(
                    $"Invalid freeze: '{entry}' names no parameter of this model; its parameters are {string.Join(", ", parameters.Select(p => p.name))}.");
            }
            foreach (var (_, parameter) in matched)
            {
                parameter.requires_grad = false;
            }
        }
    }
}
