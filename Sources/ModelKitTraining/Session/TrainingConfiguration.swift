/// Everything that decides a training run besides the model and the data: the loss, the optimizer, the schedule,
/// clipping, the l2 penalty, which layers train, batching and randomness.
///
/// ```swift
/// var configuration = TrainingConfiguration(loss: .crossEntropy, optimizer: .sgd(learningRate: 0.1))
/// configuration.batchSize = 50
/// configuration.frozenLayers = ["fc1"]
/// ```
public struct TrainingConfiguration: Sendable, Equatable {
    /// The training objective.
    public var loss: LossFunction
    /// The update rule and its hyperparameters.
    public var optimizer: OptimizerConfiguration
    /// Stepped once per optimizer step.
    public var schedule: LearningRateSchedule
    /// Clip the global gradient norm to this value (`clip_grad_norm_`), or `nil` for no clipping.
    public var clipGradientNorm: Double?
    /// The l2 penalty factor: `loss += ½·l2·Σ‖W‖²` over the trained dense weights (not biases); 0 = none.
    public var l2: Double
    /// Layers whose parameters do not train (no update, no optimizer state, no decay, no l2, not in the clip norm).
    public var frozenLayers: [String]
    /// When set, only the last `n` dense layers train; the others are frozen (combined with ``frozenLayers``).
    public var trainLastDenseLayers: Int?
    /// Rows per optimizer step; the last batch of an epoch may be smaller.
    public var batchSize: Int
    /// Shuffle the rows at the start of every epoch (Fisher–Yates with ``TrainingRandom``); `false` = file order.
    public var shuffle: Bool
    /// Seeds the shuffle and the dropout masks.
    public var seed: UInt64
    /// Apply dropout layers (with a mask from the seeded generator) while training; `false` treats them as identity.
    public var dropoutEnabled: Bool
    /// Passes over the data a full run makes (``Trainer/train(_:onStep:)``).
    public var epochs: Int

    /// A configuration; only the loss and optimizer are required (no schedule, clipping, l2 or freezing;
    /// batch 32, file order, seed 0, dropout on, one epoch).
    public init(loss: LossFunction, optimizer: OptimizerConfiguration, schedule: LearningRateSchedule = .constant,
                clipGradientNorm: Double? = nil, l2: Double = 0, frozenLayers: [String] = [],
                trainLastDenseLayers: Int? = nil, batchSize: Int = 32, shuffle: Bool = false, seed: UInt64 = 0,
                dropoutEnabled: Bool = true, epochs: Int = 1) {
        self.loss = loss
        self.optimizer = optimizer
        self.schedule = schedule
        self.clipGradientNorm = clipGradientNorm
        self.l2 = l2
        self.frozenLayers = frozenLayers
        self.trainLastDenseLayers = trainLastDenseLayers
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropoutEnabled = dropoutEnabled
        self.epochs = epochs
    }

    /// Checks every setting.
    ///
    /// - Throws: ``TrainingError/invalidConfiguration(name:reason:)``.
    public func validate() throws(TrainingError) {
        try optimizer.validate()
        try schedule.validate()
        guard epochs >= 0 else { throw .invalidConfiguration(name: "epochs", reason: "\(epochs) must not be negative") }
        guard batchSize >= 1 else { throw .invalidConfiguration(name: "batch_size", reason: "\(batchSize) must be at least 1") }
        if let clip = clipGradientNorm, !(clip.isFinite && clip > 0) {
            throw .invalidConfiguration(name: "clip_grad_norm", reason: "\(clip) must be a positive number")
        }
        guard l2.isFinite, l2 >= 0 else { throw .invalidConfiguration(name: "l2", reason: "\(l2) must be a non-negative number") }
        if let last = trainLastDenseLayers, last < 1 {
            throw .invalidConfiguration(name: "train_last", reason: "\(last) must be at least 1")
        }
    }
}
