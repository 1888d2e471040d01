namespace Adan.Sharded.Training;

/// <summary>An evaluation's result.</summary>
/// <param name="Accuracy">The share of samples predicted right, where the task has one (null otherwise).</param>
/// <param name="Loss">The mean loss.</param>
/// <param name="Description">The metrics as the trainer prints them after <c>eval step N: </c>.</param>
/// <param name="Perplexity">exp of the mean loss, where the task reports it (a language model; null otherwise).</param>
public sealed record TaskScore(double? Accuracy, double Loss, string Description, double? Perplexity = null);
