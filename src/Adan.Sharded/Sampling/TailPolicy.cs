namespace Adan.Sharded.Sampling;

/// <summary>What to do with samples that do not divide evenly among ranks and batches.</summary>
public enum TailPolicy
{
    /// <summary>Drop the last samples of the permutation so every rank gets whole, equal batches.</summary>
    Drop,

    /// <summary>Pad by wrapping around to the start of the permutation, so every sample is seen each epoch.</summary>
    Pad,
}
