/// Everything needed to continue a fine-tune bit for bit: the model, the optimizer state, the training progress,
/// the hyperparameters, and fingerprints of the files the run started from.
///
/// A checkpoint is stored as one `.mkit` file that is also an ordinary model (Specs/checkpoint.md section 2):
/// `inspect`, `run` and `convert` read it; the optimizer buffers ride along as tensors under `optimizer/` and the
/// rest is JSON text in the `modelkit.checkpoint` metadata entry.
///
/// ```swift
/// let directory = try CheckpointDirectory("runs/ckpt", keep: 3, compression: .fast)
/// try directory.save(Checkpoint(trainer: trainer, sourceModel: modelPrint, data: dataPrint))
/// // later, in a new process:
/// let resumed = try CheckpointDirectory.resume(from: "runs/ckpt")
/// let trainer = try resumed.checkpoint.makeTrainer()
/// try trainer.train(data)
/// ```
public struct Checkpoint: Sendable {
    /// The model at the checkpoint: every layer and tensor, trained ones with their current values. Carries no
    /// checkpoint parts (they are split off when reading).
    public var model: Model
    /// The optimizer's buffers and step counts.
    public var optimizerState: OptimizerState
    /// Epoch, position in the data order, generator states, loss history.
    public var trainingState: TrainingState
    /// The hyperparameters the run uses (stored as ``TrainingConfiguration/jsonValue``).
    public var configuration: TrainingConfiguration
    /// The fingerprint of the model file the run started from, when known.
    public var sourceModel: FileFingerprint?
    /// The fingerprint of the training data file, when known.
    public var data: FileFingerprint?
    /// Free text (e.g. the command line that started the run).
    public var notes: String

    /// A checkpoint from its parts (see ``init(trainer:sourceModel:data:notes:)`` for a trainer's snapshot).
    public init(model: Model, optimizerState: OptimizerState, trainingState: TrainingState,
                configuration: TrainingConfiguration, sourceModel: FileFingerprint? = nil, data: FileFingerprint? = nil,
                notes: String = "") {
        self.model = model
        self.optimizerState = optimizerState
        self.trainingState = trainingState
        self.configuration = configuration
        self.sourceModel = sourceModel
        self.data = data
        self.notes = notes
    }

    /// A snapshot of `trainer`: its current model, optimizer state, progress and configuration.
    ///
    /// Take it between steps (e.g. in the `onStep` callback), when ``Trainer/state`` points at the next batch.
    public init(trainer: Trainer, sourceModel: FileFingerprint? = nil, data: FileFingerprint? = nil, notes: String = "") {
        self.init(model: trainer.model, optimizerState: trainer.optimizerState, trainingState: trainer.state,
                  configuration: trainer.configuration, sourceModel: sourceModel, data: data, notes: notes)
    }

    /// A new trainer that continues this checkpoint: made from ``model`` with ``configuration`` (or `configuration`,
    /// e.g. with more epochs), then given the optimizer and training state.
    ///
    /// - Throws: ``TrainingError`` when the configuration is invalid or the state does not fit the model
    ///   (`stateMismatch`), e.g. a different optimizer or frozen layers than the run that wrote the checkpoint.
    public func makeTrainer(configuration: TrainingConfiguration? = nil) throws(TrainingError) -> Trainer {
        let trainer = try Trainer(model: model, configuration: configuration ?? self.configuration)
        try trainer.restore(optimizerState: optimizerState, trainingState: trainingState)
        return trainer
    }

    /// Warnings when the given files differ from the ones the run started from (empty when they match or when
    /// the checkpoint recorded no fingerprint). The library does not decide whether a difference is fatal.
    public func fingerprintWarnings(sourceModel: FileFingerprint?, data: FileFingerprint?) -> [String] {
        var warnings: [String] = []
        if let recorded = self.sourceModel, let given = sourceModel, recorded != given {
            warnings.append("the model file differs from the one the run started from (checkpoint \(recorded), given \(given))")
        }
        if let recorded = self.data, let given = data, recorded != given {
            warnings.append("the data file differs from the one the run trained on (checkpoint \(recorded), given \(given)); resuming will not reproduce the run")
        }
        return warnings
    }
}
