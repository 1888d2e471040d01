using System.Text.Json.Serialization;

namespace Adan.Worker.Config;

/// <summary>The model architecture.</summary>
public enum ModelKind
{
    /// <summary>784 → hidden → 10 perceptron.</summary>
    Mlp,

    /// <summary>Small ResNet for 28x28x1.</summary>
    Resnet,

    /// <summary>Small vision transformer for 28x28x1.</summary>
    Vit,

    /// <summary>Character-level GPT.</summary>
    Gpt,
}

/// <summary>The training data.</summary>
public enum DatasetKind
{
    /// <summary>Fashion-MNIST IDX files (<c>fashion-mnist</c>).</summary>
    FashionMnist,

    /// <summary>A character-level text file.</summary>
    Text,
}

/// <summary>The optimizer.</summary>
public enum OptimizerKind
{
    /// <summary>Adan (the project's sharded optimizer).</summary>
    Adan,

    /// <summary>AdamW, as a baseline.</summary>
    // One word, as PyTorch spells it, not the naming policy's adam-w.
    [JsonStringEnumMemberName("adamw")]
    AdamW,

    /// <summary>SGD with momentum, as a baseline.</summary>
    Sgd,

    /// <summary>LAMB (timm's NVLAMB), with its state sharded like Adan's.</summary>
    Lamb,
}

/// <summary>Where metrics and traces go.</summary>
public enum TelemetryMode
{
    /// <summary>No exporter (OTLP still applies when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set).</summary>
    None,

    /// <summary>Print metrics and traces to the console.</summary>
    Console,
}
