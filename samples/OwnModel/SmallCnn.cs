using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OwnModel;

/// <summary>
/// The application's own model: two 3×3 convolutions, global average pooling and a linear classifier, over
/// one-channel images. Nothing in it knows about distributed training; the trainer makes its parameters views into
/// the flat buffer that the optimizer shards. Its stem is frozen when asked (<c>requires_grad = false</c>), as when
/// fine-tuning a pretrained network: the trainer then leaves it out of the optimizer.
/// </summary>
public sealed class SmallCnn : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _stem;
    private readonly Conv2d _body;
    private readonly Linear _head;

    public SmallCnn(int classes, int width = 16) : base(nameof(SmallCnn))
    {
        _stem = nn.Conv2d(1, width / 2, 3, padding: 1);
        _body = nn.Conv2d(width / 2, width, 3, padding: 1);
        _head = nn.Linear(width, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        // Submodules through call, not forward: the trainer's overlapped gradient reduction hooks into call.
        using var scope = NewDisposeScope();
        var x = nn.functional.max_pool2d(nn.functional.relu(_stem.call(input)), 2);
        x = nn.functional.relu(_body.call(x)).mean([2L, 3L]);
        return _head.call(x).MoveToOuterDisposeScope();
    }
}
