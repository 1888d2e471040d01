using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Adan.Sharded.Collectives;
using Adan.Sharded.Schedules;
using Adan.Sharded.Zero;
using Adan.Sharded.Training;
using Adan.Sharded.Training.Data;

namespace Adan.Sharded.Training.Config;

/// <summary>
/// Every setting of a training run, with its default. Bound from a JSON file of snake_case keys and
/// from <c>--set key=value</c> overrides (see <see cref="ConfigBinder"/>); ranges are declared with
/// DataAnnotations attributes, and the rules that involve several keys in
/// <see cref="IValidatableObject.Validate"/>; <see cref="Validate()"/> checks both.
/// </summary>
internal sealed partial record TrainConfig : IValidatableObject
{
    /// <summary>The valid range of an optimizer section's <c>lr</c>, the schedule's peak, as messages and the key listing show it.</summary>
    internal const string LearningRateRange = "(0, 10]";

    private const double MaxLearningRate = 10;

    // long.MaxValue, spelled out because attribute arguments must be constants and the range is shown to users.
    private const string LongMax = "9223372036854775807";

    /// <summary><c>model</c>: the architecture (mlp | resnet | vit | gpt).</summary>
    [ConfigKey("the architecture to train", Architecture = true)]
    public ModelKind Model { get; init; } = ModelKind.Resnet;

    /// <summary><c>dataset</c>: fashion-mnist for the image models, text (a character-level file) or tokens (token files) for the GPT.</summary>
    [ConfigKey("the training data: fashion-mnist for the image models, text or tokens for the GPT; fixes the model's input and output sizes", Architecture = true)]
    public DatasetKind Dataset { get; init; } = DatasetKind.FashionMnist;

    /// <summary><c>data_dir</c>: directory of the Fashion-MNIST IDX files (plain or .gz).</summary>
    [Required]
    [ConfigKey("directory of the Fashion-MNIST IDX files (plain or .gz)")]
    public string DataDir { get; init; } = "/usr/share/datasets/fashion-mnist";

    /// <summary><c>text_file</c>: the text the GPT learns; its last 10 % validates.</summary>
    [Required]
    [ConfigKey("the text the GPT learns; its last 10 % validates")]
    public string TextFile { get; init; } = "/usr/share/games/fortunes/fortunes";

    /// <summary>
    /// <c>token_file</c>: with <c>dataset=tokens</c>, the training token file (nanoGPT's <c>train.bin</c>: little-endian
    /// ids of <see cref="TokenDtype"/>, no header; see <see cref="TokenFileDataset"/>), memory-mapped.
    /// </summary>
    [ConfigKey("with dataset=tokens: the training token file (little-endian uint16 or uint32 ids, no header, as nanoGPT's train.bin), memory-mapped")]
    public string TokenFile { get; init; } = "";

    /// <summary><c>token_val_file</c>: with <c>dataset=tokens</c>, the validation token file; empty: the last 10 % of token_file's samples validate.</summary>
    [ConfigKey("with dataset=tokens: the validation token file (nanoGPT's val.bin); empty: the last 10 % of token_file validates")]
    public string TokenValFile { get; init; } = "";

    /// <summary><c>token_dtype</c>: the width of the ids in the token files (uint16 | uint32).</summary>
    [ConfigKey("the width of a token id in the token files")]
    public TokenDType TokenDtype { get; init; } = TokenDType.Uint16;

    /// <summary>
    /// <c>vocab_size</c>: with <c>dataset=tokens</c>, the GPT's vocabulary size; every id in the files must be below
    /// it (50304 for GPT-2 tokens as nanoGPT pads them). Text data sets their own.
    /// </summary>
    [Range(0, int.MaxValue)]
    [ConfigKey("with dataset=tokens: the GPT's vocabulary size, above every id in the files (e.g. 50304 for GPT-2 tokens)")]
    public int VocabSize { get; init; }

    /// <summary>
    /// <c>shuffle</c>: draw each epoch's samples in a seeded random order; false reads them in order 0..N-1, which a
    /// forward-only data set (<see cref="IBatchDataset.SupportsRandomAccess"/> false) requires.
    /// </summary>
    [ConfigKey("shuffle each epoch's samples (seeded); false reads them in order, as a forward-only data set requires")]
    public bool Shuffle { get; init; } = true;

    /// <summary>
    /// <c>init_weights</c>: start from these weights instead of the seed's: a safetensors file written by
    /// <c>adan checkpoint export</c> (or the folder holding it), loaded by name into the fresh model before it is
    /// flattened; every parameter and buffer of the model must be in it with its shape and dtype. Empty: none.
    /// </summary>
    [ConfigKey("start from exported weights: a safetensors file of adan checkpoint export, or its folder; loaded by name, shapes and dtypes checked")]
    public string InitWeights { get; init; } = "";

    /// <summary>
    /// <c>freeze</c>: parameters not to train, as comma-separated names or module prefixes (<c>blocks.0,embedding</c>):
    /// their <c>requires_grad</c> is cleared, so they stay out of the flat buffer, the gradients and the optimizer
    /// state, and are checkpointed with the module buffers. Empty: train all.
    /// </summary>
    [ConfigKey("parameters not to train: comma-separated names or module prefixes; kept out of the flat buffer and the optimizer")]
    public string Freeze { get; init; } = "";

    /// <summary><c>train_subset</c>: use only the first N training samples (0 = all); for quick runs and tests.</summary>
    [Range(0, int.MaxValue)]
    [ConfigKey("use only the first N training samples (0 = all)")]
    public int TrainSubset { get; init; }

    /// <summary><c>test_subset</c>: evaluate on only the first N test samples (0 = all).</summary>
    [Range(0, int.MaxValue)]
    [ConfigKey("evaluate on only the first N test samples (0 = all)")]
    public int TestSubset { get; init; }

    /// <summary><c>augment</c>: random crop (padding 2) and horizontal flip of training images; helps long runs, slows short ones.</summary>
    [ConfigKey("random crop (padding 2) and horizontal flip of training images")]
    public bool Augment { get; init; }

    /// <summary><c>epochs</c>: passes over the training set.</summary>
    [Range(1, 100_000)]
    [ConfigKey("passes over the training set; the learning-rate schedule spans them")]
    public int Epochs { get; init; } = 3;

    /// <summary>
    /// <c>max_steps</c>: stop after this many optimizer steps (0 = no limit). It never changes the learning-rate
    /// schedule, which spans the configured epochs: a run stopped early and resumed with a larger max_steps continues
    /// the same curve.
    /// </summary>
    [Range(typeof(long), "0", LongMax)]
    [ConfigKey("stop after this many optimizer steps (0 = no limit); never changes the schedule")]
    public long MaxSteps { get; init; }

    /// <summary><c>micro_batch</c>: samples per rank per forward/backward.</summary>
    [Range(1, 65_536)]
    [ConfigKey("samples per rank per forward/backward")]
    public int MicroBatch { get; init; } = 64;

    /// <summary><c>accumulation</c>: micro-batches accumulated per optimizer step (global batch = world × micro_batch × accumulation).</summary>
    [Range(1, 4_096)]
    [ConfigKey("micro-batches per optimizer step (global batch = world x micro_batch x accumulation)")]
    public int Accumulation { get; init; } = 1;

    /// <summary>
    /// <c>optimizer</c>: the optimizer to train with, one of <see cref="OptimizerRegistry.Names"/> (adan | lamb | adamw |
    /// sgd). Its settings are its section (<see cref="Sections"/>), e.g. <c>"adan": { "lr": 0.002 }</c> or
    /// <c>--set adan.lr=0.002</c>.
    /// </summary>
    [Required]
    [ConfigKey("the optimizer; its settings are the keys of its section (adan.lr, ...)")]
    public string Optimizer { get; init; } = "adan";

    /// <summary>
    /// The optimizer sections (<c>adan</c>, <c>lamb</c>, <c>adamw</c>, <c>sgd</c>), each the optimizer's own options
    /// record with its reference's defaults (lr 1e-3 for each; official Adan: betas [0.98, 0.92, 0.99], eps 1e-8, weight_decay 0;
    /// timm's Lamb: betas [0.9, 0.999], eps 1e-6, weight_decay 0.01, max_grad_norm 1; PyTorch's AdamW: betas
    /// [0.9, 0.999], eps 1e-8, weight_decay 0.01; SGD: momentum 0). The chosen optimizer's <c>lr</c> is the peak of the
    /// learning-rate schedule. Bound by <see cref="ConfigBinder"/> from the keys named after the optimizers, not a key itself.
    /// </summary>
    [JsonIgnore]
    public OptimizerSections Sections { get; init; } = OptimizerSections.None;

    /// <summary>
    /// <c>no_decay_bias_norm</c>: put biases and normalisation weights (every parameter with one dimension, and any
    /// whose name ends in <c>bias</c>) in a second parameter group without weight decay, as timm's
    /// <c>param_groups_weight_decay</c> and the reference recipes do. false: one group, every parameter decayed.
    /// </summary>
    [ConfigKey("no weight decay for biases and normalisation weights (a second parameter group)")]
    public bool NoDecayBiasNorm { get; init; }

    /// <summary>
    /// <c>zero_stage</c>: 0 (<c>replicated</c>) replicates optimizer state, 1 (<c>optimizer-state</c>) shards it,
    /// 2 (<c>gradients</c>) also drops gradients outside the rank's shard.
    /// </summary>
    [EnumDataType(typeof(ZeroStage))]
    [ConfigKey("0 replicates optimizer state, 1 shards it, 2 also drops gradients outside the rank's shard")]
    public ZeroStage ZeroStage { get; init; } = ZeroStage.OptimizerState;

    /// <summary>
    /// <c>optimizer_state</c>: how the optimizer state is stored (Adan only below fp32): fp32 (16 bytes a parameter),
    /// bf16 with stochastic rounding (8), or 8bit, block-wise dynamic codes with bf16 neg_pre_grad (about 5.05);
    /// parameters under 4,096 elements keep fp32 state. A checkpoint resumes only in the mode it was saved in.
    /// </summary>
    [EnumDataType(typeof(OptimizerStateMode))]
    [ConfigKey("how adan's state is stored: fp32, bf16 (stochastic rounding) or 8bit (block-wise codes); a checkpoint resumes only in its mode")]
    public OptimizerStateMode OptimizerState { get; init; } = OptimizerStateMode.Fp32;

    /// <summary><c>lr_policy</c>: scaling of the optimizer's <c>lr</c> with the global batch (none | linear | sqrt).</summary>
    [ConfigKey("scaling of the optimizer's lr with the global batch, relative to base_batch")]
    public LearningRateScaling LrPolicy { get; init; } = LearningRateScaling.None;

    /// <summary><c>base_batch</c>: the global batch the optimizer's <c>lr</c> was tuned for.</summary>
    [Range(1, int.MaxValue)]
    [ConfigKey("the global batch the optimizer's lr was tuned for")]
    public int BaseBatch { get; init; } = 128;

    /// <summary>
    /// <c>warmup_steps</c>: linear warm-up from 0 to the peak learning rate, in optimizer steps of the global batch of
    /// the run that starts the schedule; checkpoints record it in samples, so a resumed run warms up over the same samples.
    /// </summary>
    [Range(typeof(long), "0", LongMax)]
    [ConfigKey("linear warm-up to the peak learning rate, in optimizer steps")]
    public long WarmupSteps { get; init; } = 100;

    /// <summary><c>schedule</c>: decay after warm-up (cosine | constant).</summary>
    [ConfigKey("decay of the learning rate after warm-up")]
    public LearningRateDecay Schedule { get; init; } = LearningRateDecay.Cosine;

    /// <summary><c>min_lr</c>: the learning rate the cosine schedule ends at.</summary>
    [Range(0.0, 10.0)]
    [ConfigKey("the learning rate the cosine schedule ends at (at most the optimizer's lr)")]
    public double MinLr { get; init; }

    /// <summary><c>checkpoint_every</c>: steps between checkpoints, plus one after the last step (0 = no checkpoints).</summary>
    [Range(typeof(long), "0", LongMax)]
    [ConfigKey("steps between checkpoints, plus one after the last step (0 = none)")]
    public long CheckpointEvery { get; init; }

    /// <summary><c>checkpoint_dir</c>: where checkpoints go; a relative path is under <see cref="RunDir"/>.</summary>
    [Required]
    [ConfigKey("where checkpoints go; relative to run_dir")]
    public string CheckpointDir { get; init; } = "checkpoints";

    /// <summary>
    /// <c>keep_last</c>: committed checkpoints to keep in the checkpoint directory, earlier runs' included (older ones
    /// are deleted in the background after each commit).
    /// </summary>
    [Range(1, 1_000)]
    [ConfigKey("committed checkpoints kept in checkpoint_dir; older ones are deleted")]
    public int KeepLast { get; init; } = 3;

    /// <summary>
    /// <c>async_checkpoint</c>: a save copies the rank's shard into staging memory allocated at start (20 bytes per shard
    /// element) and training goes on while it is written in the background; the checkpoint commits at a later step
    /// boundary. false: training waits for each save to be written and committed.
    /// </summary>
    [ConfigKey("write checkpoints in the background while training goes on")]
    public bool AsyncCheckpoint { get; init; } = true;

    /// <summary><c>resume</c>: latest (the newest committed checkpoint, if any), none, or a checkpoint directory.</summary>
    [Required]
    [ConfigKey("continue from the newest committed checkpoint (latest), start fresh (none), or a checkpoint directory", Values = "latest | none | a checkpoint directory")]
    public string Resume { get; init; } = "none";

    /// <summary>
    /// <c>allow_hparam_change</c>: let a resumed run use hyper-parameters that differ from its checkpoint's (the
    /// optimizer section's keys, the global batch, the learning-rate schedule's settings); without it such a run lists
    /// them and is refused.
    /// </summary>
    [ConfigKey("let a resumed run change hyper-parameters its checkpoint recorded")]
    public bool AllowHparamChange { get; init; }

    /// <summary><c>seed</c>: seeds model initialisation, sampling and augmentation identically on every rank.</summary>
    [Range(0, int.MaxValue)]
    [ConfigKey("seeds initialisation, sampling and augmentation, identically on every rank")]
    public int Seed { get; init; } = 42;

    /// <summary>
    /// <c>eval_every</c>: steps between evaluations during training (0 = none); they score the validation split when
    /// there is one (<c>val_split</c>), else the test set, which is always evaluated once at the end.
    /// </summary>
    [Range(typeof(long), "0", LongMax)]
    [ConfigKey("steps between evaluations during training (0 = none); one always runs at the end")]
    public long EvalEvery { get; init; }

    /// <summary>
    /// <c>eval_every_samples</c>: evaluate after the first step at or past each multiple of this many training samples
    /// (0 = none): a cadence that means the same at every batch size (steps-to-target); not with <c>eval_every</c>.
    /// </summary>
    [Range(typeof(long), "0", LongMax)]
    [ConfigKey("evaluate at each multiple of this many training samples (0 = none); not with eval_every")]
    public long EvalEverySamples { get; init; }

    /// <summary>
    /// <c>val_split</c>: hold out the last N samples of the training set for validation (0 = none); training uses the
    /// rest (then <c>train_subset</c>). The same N samples for every seed and batch, so that choices made on validation
    /// leave the test set for reporting only. Image datasets only (the text corpus's last 10 % is its validation set).
    /// </summary>
    [Range(0, int.MaxValue)]
    [ConfigKey("hold out the last N training samples for validation (0 = none)")]
    public int ValSplit { get; init; }

    /// <summary>
    /// <c>target</c>: a validation quality to record reaching, <c>val_accuracy=0.88</c> or <c>val_loss=0.35</c> (empty =
    /// none): <c>summary.json</c>'s <c>target</c> gives the step and samples at which it was first reached,
    /// interpolated between evaluations, or says it was not (censored). Needs <c>val_split</c> and an evaluation cadence.
    /// </summary>
    [ConfigKey("a validation quality to record reaching, e.g. val_accuracy=0.88 (empty = none)", Values = "empty, or val_accuracy=A | val_loss=L")]
    public string Target { get; init; } = "";

    /// <summary><c>stop_at_target</c>: end the run cleanly (evaluation, summary) at the evaluation that first reaches <c>target</c>; the epochs are then a cap.</summary>
    [ConfigKey("end the run at the evaluation that first reaches target")]
    public bool StopAtTarget { get; init; }

    /// <summary><c>log_every</c>: steps between plain progress lines when stdout is not a terminal, and between step records of <c>metrics.jsonl</c>.</summary>
    [Range(typeof(long), "1", LongMax)]
    [ConfigKey("steps between progress lines and metrics.jsonl step records")]
    public long LogEvery { get; init; } = 50;

    /// <summary><c>run_dir</c>: directory for summary.json and, by default, checkpoints.</summary>
    [Required]
    [ConfigKey("directory of the run's records (summary.json, metrics.jsonl) and, by default, checkpoints")]
    public string RunDir { get; init; } = "runs/default";

    /// <summary>
    /// <c>tensorboard_dir</c>: where rank 0 writes TensorBoard scalars (empty = off): a relative path is under
    /// <see cref="RunDir"/>. The same events as <c>metrics.jsonl</c> (loss, learning rate, gradient norm, noise scale,
    /// samples/s, every evaluation); <c>metrics.jsonl</c> stays the record, so a failed write warns once and stops only
    /// TensorBoard (<see cref="Telemetry.TensorBoardLog"/>).
    /// </summary>
    [ConfigKey("where rank 0 writes TensorBoard scalars of the metrics.jsonl events, relative to run_dir (empty = off)")]
    public string TensorboardDir { get; init; } = "";

    /// <summary><c>telemetry</c>: none | console (OTLP is added when OTEL_EXPORTER_OTLP_ENDPOINT is set).</summary>
    [ConfigKey("metrics and traces exporter (OTLP is added when OTEL_EXPORTER_OTLP_ENDPOINT is set)")]
    public TelemetryMode Telemetry { get; init; } = TelemetryMode.None;

    /// <summary>
    /// <c>device</c>: where the parameters, flat buffers and Adan's shard live: cpu, cuda (one GPU per rank, the rank's
    /// index among the ranks on its host) or cuda:N (GPU N for every rank of the host). CUDA needs a build with
    /// -p:TorchBackend=cuda.
    /// </summary>
    [Required]
    [ConfigKey("where parameters and optimizer state live", Values = "cpu | cuda | cuda:N")]
    public string Device { get; init; } = "cpu";

    /// <summary><c>collective</c>: the data-plane backend: auto (NCCL for CUDA buffers, MPI for CPU buffers) | mpi | nccl.</summary>
    [ConfigKey("data-plane backend: auto picks NCCL for CUDA buffers, MPI for CPU buffers")]
    public CollectiveKind Collective { get; init; } = CollectiveKind.Auto;

    /// <summary>
    /// <c>precision</c>: fp32, or bf16-mixed: the model computes in a bf16 copy of the fp32 master parameters, which the
    /// optimizer updates and checkpoints save; the all-gather after each step moves bf16; normalisation layers and the
    /// loss stay fp32 (see <see cref="Adan.Sharded.Precision.ComputePrecision"/>).
    /// </summary>
    [ConfigKey("fp32, or bf16-mixed: bf16 compute and all-gather over fp32 master weights and optimizer state")]
    public PrecisionMode Precision { get; init; } = PrecisionMode.Fp32;

    /// <summary>
    /// <c>reduce_dtype</c>: the dtype gradients are reduced in under bf16-mixed: fp32 (as FSDP's policy recommends) or
    /// bf16 (half the bytes of the reduce-scatter, partial sums rounded to bf16). fp32 is the only choice with precision fp32.
    /// </summary>
    [ConfigKey("dtype of the gradient reduction under precision=bf16-mixed (bf16 halves its bytes)")]
    public ReduceDtype ReduceDtype { get; init; } = ReduceDtype.Fp32;

    /// <summary><c>threads</c>: torch intra-op threads per rank (0 = cores divided by the ranks on this host).</summary>
    [Range(0, 1_024)]
    [ConfigKey("torch intra-op threads per rank (0 = cores divided by the ranks on this host)")]
    public int Threads { get; init; }

    /// <summary><c>bucket_mib</c>: size of a communication bucket in MiB.</summary>
    [Range(1, 4_096)]
    [ConfigKey("size of a gradient communication bucket in MiB")]
    public int BucketMib { get; init; } = 25;

    /// <summary>
    /// <c>overlap_communication</c>: start each gradient bucket's reduction while backward still runs, as soon as
    /// backward has produced all of it, so the step waits only for what is still in flight (on more than one rank).
    /// false: reduce all gradients after backward. The results are the same.
    /// </summary>
    [ConfigKey("reduce gradient buckets while backward still runs")]
    public bool OverlapCommunication { get; init; } = true;

    /// <summary>
    /// <c>gradient_noise</c>: estimate the gradient noise scale B_simple (McCandlish et al. 2018), the batch size past
    /// which larger batches stop saving steps, from each step's local and reduced gradients: one more scalar in the step's
    /// all-reduce (and under ZeRO-0 one more pass over the local gradient). Needs two ranks, or accumulation ≥ 2 on one.
    /// </summary>
    [ConfigKey("estimate the gradient noise scale B_simple (needs 2 ranks, or accumulation >= 2)")]
    public bool GradientNoise { get; init; } = true;

    /// <summary>
    /// <c>onednn</c>: let libtorch run CPU convolutions with oneDNN (MKL-DNN; PyTorch's
    /// <c>torch.backends.mkldnn.enabled</c>). Off by default: on AMD Zen 5 CPUs (AVX512-VP2INTERSECT) the convolution
    /// backward of libtorch 2.10's oneDNN 3.7.1 returns non-finite or run-to-run different gradients even on one thread,
    /// so a run would neither train nor repeat; libtorch's own convolution is exact and repeatable everywhere. Models
    /// without convolutions are unaffected.
    /// </summary>
    [ConfigKey("run CPU convolutions with oneDNN (off: libtorch's own; oneDNN's backward is wrong on some CPUs, e.g. AMD Zen 5)")]
    public bool Onednn { get; init; }

    /// <summary><c>mlp_hidden</c>: hidden units of the MLP.</summary>
    [Range(1, 65_536)]
    [ConfigKey("hidden units of the MLP", Architecture = true)]
    public int MlpHidden { get; init; } = 256;

    /// <summary><c>resnet_width</c>: channels of the ResNet stem and first stage (doubling per stage).</summary>
    [Range(1, 1_024)]
    [ConfigKey("channels of the ResNet stem and first stage (doubling per stage)", Architecture = true)]
    public int ResnetWidth { get; init; } = 16;

    /// <summary><c>resnet_stages</c>: ResNet stages; each after the first halves the resolution.</summary>
    [Range(1, 4)]
    [ConfigKey("ResNet stages; each after the first halves the resolution", Architecture = true)]
    public int ResnetStages { get; init; } = 3;

    /// <summary><c>resnet_blocks</c>: residual blocks per stage.</summary>
    [Range(1, 16)]
    [ConfigKey("residual blocks per ResNet stage", Architecture = true)]
    public int ResnetBlocks { get; init; } = 1;

    /// <summary><c>vit_patch</c>: ViT patch side; must divide 28 (4, 7, 14).</summary>
    [Range(1, 28)]
    [ConfigKey("ViT patch side; must divide 28", Architecture = true, Values = "1 | 2 | 4 | 7 | 14 | 28")]
    public int VitPatch { get; init; } = 7;

    /// <summary><c>vit_embedding</c>: ViT embedding width, divisible by <see cref="VitHeads"/>.</summary>
    [Range(1, 4_096)]
    [ConfigKey("ViT embedding width, divisible by vit_heads", Architecture = true)]
    public int VitEmbedding { get; init; } = 64;

    /// <summary><c>vit_layers</c>: ViT transformer blocks.</summary>
    [Range(1, 64)]
    [ConfigKey("ViT transformer blocks", Architecture = true)]
    public int VitLayers { get; init; } = 2;

    /// <summary><c>vit_heads</c>: ViT attention heads.</summary>
    [Range(1, 64)]
    [ConfigKey("ViT attention heads", Architecture = true)]
    public int VitHeads { get; init; } = 4;

    /// <summary><c>gpt_context</c>: GPT context length in characters (a sample is context + 1 characters).</summary>
    [Range(1, 8_192)]
    [ConfigKey("GPT context length in characters", Architecture = true)]
    public int GptContext { get; init; } = 64;

    /// <summary><c>gpt_layers</c>: GPT transformer blocks.</summary>
    [Range(1, 64)]
    [ConfigKey("GPT transformer blocks", Architecture = true)]
    public int GptLayers { get; init; } = 4;

    /// <summary><c>gpt_heads</c>: GPT attention heads.</summary>
    [Range(1, 64)]
    [ConfigKey("GPT attention heads", Architecture = true)]
    public int GptHeads { get; init; } = 4;

    /// <summary><c>gpt_embedding</c>: GPT embedding width, divisible by <see cref="GptHeads"/>.</summary>
    [Range(1, 8_192)]
    [ConfigKey("GPT embedding width, divisible by gpt_heads", Architecture = true)]
    public int GptEmbedding { get; init; } = 128;

    /// <summary><c>gpt_tied_head</c>: the output head reuses the token embedding matrix.</summary>
    [ConfigKey("the GPT's output head reuses the token embedding matrix", Architecture = true)]
    public bool GptTiedHead { get; init; } = true;

    /// <summary>
    /// Throws <see cref="ConfigException"/> naming the first key outside its range or choices, or
    /// the first inconsistent combination.
    /// </summary>
    public void Validate() => ConfigBinder.Validate(this);

    /// <summary>The rules that involve several keys; run by the validator once every key is in range.</summary>
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if ((Dataset != DatasetKind.FashionMnist) != (Model == ModelKind.Gpt))
        {
            yield return new ValidationResult(
                $"Invalid dataset: {ConfigBinder.Name(Dataset)} with model {ConfigBinder.Name(Model)}; the gpt model needs dataset text or tokens and the image models need fashion-mnist.");
        }

        if (OptimizerState != OptimizerStateMode.Fp32 && Optimizer != "adan")
        {
            yield return new ValidationResult(
                $"Invalid optimizer_state: {ConfigBinder.Name(OptimizerState)} with optimizer {Optimizer}; only adan stores low-precision state, so use optimizer_state=fp32.");
        }
        if (GptEmbedding % GptHeads != 0)
        {
            yield return new ValidationResult($"Invalid gpt_embedding: {GptEmbedding}; it must be divisible by gpt_heads = {GptHeads}.");
        }
        if (VitEmbedding % VitHeads != 0)
        {
            yield return new ValidationResult($"Invalid vit_embedding: {VitEmbedding}; it must be divisible by vit_heads = {VitHeads}.");
        }
        if (28 % VitPatch != 0)
        {
            yield return new ValidationResult($"Invalid vit_patch: {VitPatch}; valid choices are 1, 2, 4, 7, 14, 28 (divisors of 28).");
        }
        if (!OptimizerRegistry.Names.Contains(Optimizer))
        {
            yield return new ValidationResult($"Invalid optimizer: '{Optimizer}'; valid choices are {string.Join(" | ", OptimizerRegistry.Names)}.");
            yield break;
        }
        foreach (var name in Sections.Names.Append(Optimizer).Distinct())
        {
            if (SectionError(name) is { } error)
            {
                yield return new ValidationResult(error);
            }
        }
        var lr = OptimizerOptions().LearningRate;
        if (MinLr > lr)
        {
            yield return new ValidationResult($"Invalid min_lr: {ConfigBinder.Format(MinLr)}; valid range is [0, {Optimizer}.lr = {ConfigBinder.Format(lr)}].");
        }
        foreach (var error in EvaluationErrors())
        {
            yield return new ValidationResult(error);
        }
        if (!DevicePattern().IsMatch(Device))
        {
            yield return new ValidationResult($"Invalid device: '{Device}'; valid choices are cpu | cuda | cuda:N (N the GPU's index).");
        }
        else if (Device == "cpu" && Collective == CollectiveKind.Nccl)
        {
            yield return new ValidationResult("Invalid collective: nccl with device cpu; NCCL reduces CUDA memory. Use device=cuda, or collective=auto or mpi.");
        }
        else if (Device != "cpu" && Collective == CollectiveKind.Mpi)
        {
            yield return new ValidationResult($"Invalid collective: mpi with device {Device}; the MPI backend reduces CPU memory. Use collective=auto or nccl, or device=cpu.");
        }
        if (ReduceDtype == ReduceDtype.Bf16 && Precision == PrecisionMode.Fp32)
        {
            yield return new ValidationResult("Invalid reduce_dtype: bf16 with precision fp32; fp32 gradients are reduced in fp32. Use precision=bf16-mixed, or reduce_dtype=fp32.");
        }
    }

    /// <summary>The parsed <see cref="Target"/>, or null when none is set (<see cref="Validate()"/> refuses a malformed one).</summary>
    internal MetricTarget? ParsedTarget() => Target.Length > 0 && MetricTarget.TryParse(Target, out var target, out _) ? target : null;

    private IEnumerable<string> EvaluationErrors()
    {
        if (EvalEvery > 0 && EvalEverySamples > 0)
        {
            yield return "Invalid eval_every with eval_every_samples: set one cadence of evaluation, in steps or in samples.";
        }
        if (ValSplit > 0 && Dataset != DatasetKind.FashionMnist)
        {
            yield return $"Invalid val_split with dataset {ConfigBinder.Name(Dataset)}: its validation set is a file or its last 10 % already; set val_split=0.";
        }
        if (Target.Length > 0)
        {
            if (!MetricTarget.TryParse(Target, out _, out var error))
            {
                yield return $"Invalid target: {error}.";
            }
            else if (ValSplit == 0)
            {
                yield return "Invalid target without val_split: a target is judged on validation, never on the test set; set val_split=N (e.g. 5000).";
            }
            else if (EvalEvery == 0 && EvalEverySamples == 0)
            {
                yield return "Invalid target without evaluations: set eval_every_samples=S (or eval_every=N) so the target can be seen being reached.";
            }
        }
        else if (StopAtTarget)
        {
            yield return "Invalid stop_at_target without target: set target=val_accuracy=0.88 (or val_loss=...), or stop_at_target=false.";
        }
    }

    /// <summary>A fresh copy of the chosen optimizer's options: its section, else its reference's defaults.</summary>
    /// <exception cref="ArgumentException"><see cref="Optimizer"/> is no optimizer's name (<see cref="Validate()"/> refuses that).</exception>
    public IGroupOptions OptimizerOptions() => Sections.For(Optimizer);

    /// <summary>This config with <paramref name="options"/> as its optimizer's section.</summary>
    public TrainConfig WithSection(IGroupOptions options) => this with { Sections = Sections.With(options) };

    /// <summary>The effective configuration, one <c>key = value</c> per line, in declaration order.</summary>
    public string Describe() => ConfigBinder.Describe(this);

    /// <summary>
    /// The torch intra-op threads for a rank: <see cref="Threads"/> when set, else the cores
    /// divided by the <paramref name="ranksOnHost"/> ranks sharing this host (at least 1), so
    /// co-located ranks do not oversubscribe the cores.
    /// </summary>
    public int EffectiveThreads(int ranksOnHost) =>
        Threads > 0 ? Threads : Math.Max(1, Environment.ProcessorCount / Math.Max(1, ranksOnHost));

    /// <summary>
    /// The first invalid value of the section of <paramref name="optimizer"/>: its <c>lr</c>, the schedule's peak, must
    /// be in (0, 10]; the rest is the options record's own check, in the reference's words, prefixed with the key.
    /// </summary>
    private string? SectionError(string optimizer)
    {
        var options = Sections.For(optimizer);
        if (!(options.LearningRate > 0 && options.LearningRate <= MaxLearningRate))
        {
            return $"Invalid {optimizer}.lr: {ConfigBinder.Format(options.LearningRate)}; valid range is {LearningRateRange}.";
        }
        try
        {
            options.Validate();
            return null;
        }
        catch (ArgumentException e)
        {
            return ConfigBinder.SectionMessage(optimizer, e);
        }
    }

    [GeneratedRegex(@"^(cpu|cuda(:[0-9]+)?)$")]
    private static partial Regex DevicePattern();

    /// <summary><see cref="CheckpointDir"/> resolved against <see cref="RunDir"/> when relative.</summary>
    public string ResolvedCheckpointDir => Path.IsPathRooted(CheckpointDir) ? CheckpointDir : Path.Combine(RunDir, CheckpointDir);

    /// <summary><see cref="TensorboardDir"/> resolved against <see cref="RunDir"/> when relative; null when TensorBoard is off.</summary>
    public string? ResolvedTensorboardDir => TensorboardDir.Length == 0 ? null
        : Path.IsPathRooted(TensorboardDir) ? TensorboardDir : Path.Combine(RunDir, TensorboardDir);
}
