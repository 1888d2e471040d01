namespace Adan.Sharded.Training;

/// <summary>
/// Local sums of a language-model evaluation; all-reduce both fields across ranks, then read
/// <see cref="MeanLoss"/> and <see cref="Perplexity"/>.
/// </summary>
/// <param name="LossSum">Sum of the per-token cross-entropy (nats).</param>
/// <param name="Tokens">Tokens predicted.</param>
internal readonly record struct LanguageModelMetrics(double LossSum, long Tokens)
{
    /// <summary>Mean cross-entropy per token (NaN when no tokens).</summary>
    public double MeanLoss => Tokens == 0 ? double.NaN : LossSum / Tokens;

    /// <summary><c>exp(MeanLoss)</c>.</summary>
    public double Perplexity => Math.Exp(MeanLoss);

    /// <summary>The element-wise sum, as an all-reduce would give.</summary>
    public static LanguageModelMetrics operator +(LanguageModelMetrics a, LanguageModelMetrics b) =>
        new(a.LossSum + b.LossSum, a.Tokens + b.Tokens);
}
