using TorchSharp;

namespace Adan.Sharded.DataParallel;

/// <summary>
/// An identity autograd function whose backward tells <see cref="GradientSync"/> that the gradient with
/// respect to a module's input has been computed, which means the module's own backward has run.
/// </summary>
/// <remarks>
/// The autograd engine runs a parameter's gradient accumulation (AccumulateGrad) before any other ready node, so by
/// the time this backward runs, the module's parameter gradients of that call are in the flat buffer (checked for
/// Linear, Conv2d, BatchNorm2d and LayerNorm in <c>GradientSyncTests</c>). TorchSharp 0.107 has no tensor or
/// AccumulateGrad hooks; this is the hook it does have. CPU backward runs on the thread that called backward, so the
/// callback, and the MPI calls it makes, are on the training thread.
/// </remarks>
internal sealed class GradientReadySignal : torch.autograd.SingleTensorFunction<GradientReadySignal>
{
    private const string Key = "ready";

    /// <inheritdoc />
    public override string Name => nameof(GradientReadySignal);

    /// <summary>Passes <paramref name="input"/> through; backward reports <paramref name="module"/> to <paramref name="owner"/>.</summary>
    public static torch.Tensor Wrap(torch.Tensor input, GradientSync owner, int module) => apply(input, new Target(owner, module));

    /// <inheritdoc />
    public override torch.Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        ctx.save_data(Key, vars[1]);
        return ((torch.Tensor)vars[0]).alias();
    }

    /// <inheritdoc />
    public override List<torch.Tensor> backward(torch.autograd.AutogradContext ctx, torch.Tensor grad_output)
    {
        var target = (Target)ctx.get_data(Key);
        target.Owner.ModuleDone(target.Module);
        return [grad_output, null!];
    }

    private sealed record Target(GradientSync Owner, int Module);
}
