namespace Adan.Sharded.Checkpoints;

/// <summary>
/// One buffer of the model that is not a parameter (BatchNorm's running mean and variance, its batch count), as a
/// checkpoint stores it: the module's name for it, the safetensors dtype, the shape, and the little-endian bytes.
/// </summary>
/// <param name="Name">The buffer's name in the module, e.g. <c>layer1.0.bn1.running_mean</c>.</param>
/// <param name="DType">The safetensors dtype: <c>F32</c>, <c>F64</c> or <c>I64</c>.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Data">Its elements, little-endian, row-major.</param>
public sealed record ModuleBuffer(string Name, string DType, long[] Shape, byte[] Data);
