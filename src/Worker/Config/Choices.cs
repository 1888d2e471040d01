using System.Runtime.Serialization;

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
    /// <summary>Fashion-MNIST IDX files.</summary>
    [EnumMember(Value = "fashion-mnist")]
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
    [EnumMember(Value = "adamw")]
    AdamW,

    /// <summary>SGD with momentum, as a baseline.</summary>
    Sgd,
}

/// <summary>How the learning rate scales with the global batch relative to <see cref="TrainConfig.BaseBatch"/>.</summary>
public enum LrPolicy
{
    /// <summary>The learning rate is used as given.</summary>
    None,

    /// <summary><c>lr · global / base</c> (Goyal et al.).</summary>
    Linear,

    /// <summary><c>lr · sqrt(global / base)</c>, usual for adaptive optimizers.</summary>
    Sqrt,
}

/// <summary>The learning-rate schedule after warm-up.</summary>
public enum LrSchedule
{
    /// <summary>Half-cosine decay from the peak to <see cref="TrainConfig.MinLr"/> at the last step.</summary>
    Cosine,

    /// <summary>The peak learning rate throughout.</summary>
    Constant,
}

/// <summary>Where metrics and traces go.</summary>
public enum TelemetryMode
{
    /// <summary>No exporter (OTLP still applies when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set).</summary>
    None,

    /// <summary>Print metrics and traces to the console.</summary>
    Console,
}
