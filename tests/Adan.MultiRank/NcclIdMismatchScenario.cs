using Adan.Sharded.Collectives;
using Adan.Sharded.Nccl;

namespace Adan.MultiRank;

/// <summary>
/// Every rank makes its own NCCL unique id instead of receiving rank 0's, as a broken exchange would: the stand-in's
/// ncclCommInitRank refuses it on every rank, and the binding reports NCCL's text, the call and the rank. Prints
/// "id mismatch refused" per rank. Needs ADAN_NCCL_LIBRARY to name the stand-in and W ≥ 2.
/// </summary>
internal static class NcclIdMismatchScenario
{
    public static int Run(string[] args)
    {
        using var control = new MpiCollective();
        var nccl = NcclLibrary.Load();
        Check.That(nccl.IsStandIn, $"{nccl.Name} is not the stand-in; this scenario would hang NVIDIA's NCCL");
        var id = NewId(nccl, control.Rank);
        var error = Check.Throws<NcclException>(
            () => nccl.Check(InitRank(nccl, control.WorldSize, id, control.Rank), "ncclCommInitRank", control.Rank),
            "ncclCommInitRank with an id of its own");
        Check.That(error.Message.Contains($"ncclCommInitRank failed on rank {control.Rank}: invalid usage (ncclInvalidUsage, code 5)"), error.Message);
        Check.That(error.Message.Contains("every rank must get rank 0's id"), error.Message);
        Console.WriteLine($"rank {control.Rank}: id mismatch refused: {error.Message}");
        return 0;
    }

    private static unsafe NcclUniqueId NewId(NcclLibrary nccl, int rank)
    {
        NcclUniqueId id;
        nccl.Check(nccl.GetUniqueId(&id), "ncclGetUniqueId", rank);
        return id;
    }

    private static unsafe int InitRank(NcclLibrary nccl, int ranks, NcclUniqueId id, int rank)
    {
        IntPtr comm;
        return nccl.CommInitRank(&comm, ranks, id, rank);
    }
}
