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
}

/// <summary>Where metrics and traces go.</summary>
internal enum TelemetryMode
{
    /// <summary>No exporter (OTLP still applies when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set).</summary>
    None,

    /// <summary>Print metrics and traces to the console.</summary>
    Console,
}
