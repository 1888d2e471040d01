namespace Adan.Sharded.Training.Config;

/// <summary>The model architecture.</summary>
internal enum ModelKind
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
internal enum DatasetKind
{
    /// <summary>Fashion-MNIST IDX files (<c>fashion-mnist</c>).</summary>
    FashionMnist,

    /// <summary>A character-level text file.</summary>
    Text,

    /// <summary>Memory-mapped token files (<c>tokens</c>: <c>token_file</c>, <c>token_val_file</c>; see <see cref="Data.TokenFileDataset"/>).</summary>
    Tokens,
}

/// <summary>The dtype the model computes in (<c>precision</c>).</summary>
internal enum PrecisionMode
{
    /// <summary>fp32 throughout.</summary>
    Fp32,

    /// <summary>bf16 compute over fp32 master weights and optimizer state (<c>bf16-mixed</c>).</summary>
    Bf16Mixed,
}

/// <summary>The dtype gradients are reduced in under bf16-mixed (<c>reduce_dtype</c>).</summary>
internal enum ReduceDtype
{
    /// <summary>Widened to fp32, then reduced.</summary>
    Fp32,

    /// <summary>Reduced in bf16, then widened.</summary>
    Bf16,
}

/// <summary>Where metrics and traces go.</summary>
internal enum TelemetryMode
{
    /// <summary>No exporter (OTLP still applies when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set).</summary>
    None,

    /// <summary>Print metrics and traces to the console.</summary>
    Console,
}
