import ArgumentParser
import ModelKit

/// The hyperparameters of `modelkit finetune`, named as PyTorch names them.
struct FinetuneHyperparameters: ParsableArguments {
    @Option(name: .long, help: "mse, sse-half (½·Σ(t−o)²), cross-entropy (on logits; a final softmax is fused) or binary-cross-entropy (a final sigmoid is fused).")
    var loss: LossArgument

    @Option(name: .long, help: "sgd, adam or adamw (PyTorch's update rules and defaults).")
    var optimizer: OptimizerKindArgument

    @Option(name: .long, help: "Learning rate.")
    var lr: Double

    @Option(name: .long, help: "SGD momentum (default 0).")
    var momentum: Double?

    @Option(name: .long, help: "SGD dampening (default 0).")
    var dampening: Double?

    @Flag(name: .long, help: "SGD Nesterov momentum.")
    var nesterov = false

    @Option(name: .long, help: "Weight decay (default 0; 0.01 for adamw, decoupled).")
    var weightDecay: Double?

    @Option(name: .long, help: "Adam/AdamW betas as B1,B2 (default 0.9,0.999).")
    var betas: String?

    @Option(name: .long, help: "Adam/AdamW epsilon (default 1e-8).")
    var eps: Double?

    @Option(name: .long, help: "Learning-rate schedule, stepped per optimizer step: constant, step:SIZE:GAMMA, cosine[:ETA_MIN] (over the whole run) or warmup:STEPS[:START_FACTOR].")
    var schedule: String = "constant"

    @Option(name: .long, help: "Clip the global gradient norm to this value.")
    var clipGradNorm: Double?

    @Option(name: .long, help: "L2 penalty: loss + ½·L2·Σ‖W‖² over the trained weights.")
    var l2: Double = 0

    @Option(name: .long, help: "Epochs (passes over the data).")
    var epochs: Int

    @Option(name: .long, help: "Rows per optimizer step.")
    var batchSize: Int

    @Flag(name: .long, inversion: .prefixedNo, help: "Shuffle the rows every epoch (seeded); --no-shuffle keeps file order.")
    var shuffle = false

    @Option(name: .long, help: "Seed of the shuffle and of dropout masks.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Comma-separated layer names whose parameters stay fixed.")
    var freeze: String?

    @Option(name: .long, help: "Train only the last N dense layers.")
    var trainLast: Int?

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1.") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1.") }
        if freeze != nil && trainLast != nil { throw ValidationError("Use --freeze or --train-last, not both.") }
        if optimizer != .sgd && (momentum != nil || nesterov || dampening != nil) {
            throw ValidationError("--momentum, --dampening and --nesterov apply to --optimizer sgd.")
        }
        if optimizer == .sgd && (betas != nil || eps != nil) {
            throw ValidationError("--betas and --eps apply to --optimizer adam and adamw.")
        }
    }

    /// The library configuration these flags describe, for `stepsPerEpoch` optimizer steps per epoch.
    func configuration(stepsPerEpoch: Int) throws -> TrainingConfiguration {
        var optimizerConfiguration: OptimizerConfiguration
        switch optimizer {
        case .sgd:
            optimizerConfiguration = .sgd(learningRate: lr, momentum: momentum ?? 0, dampening: dampening ?? 0, nesterov: nesterov,
                                          weightDecay: weightDecay ?? 0)
        case .adam, .adamw:
            var beta1 = 0.9, beta2 = 0.999
            if let betas {
                let parts = betas.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count == 2, let first = parts[0], let second = parts[1] else {
                    throw ValidationError("--betas takes two numbers separated by a comma, e.g. 0.9,0.999; got '\(betas)'.")
                }
                (beta1, beta2) = (first, second)
            }
            optimizerConfiguration = optimizer == .adam
                ? .adam(learningRate: lr, beta1: beta1, beta2: beta2, epsilon: eps ?? 1e-8, weightDecay: weightDecay ?? 0)
                : .adamW(learningRate: lr, beta1: beta1, beta2: beta2, epsilon: eps ?? 1e-8, weightDecay: weightDecay ?? 0.01)
        }
        var configuration = TrainingConfiguration(loss: loss.loss, optimizer: optimizerConfiguration)
        configuration.schedule = try parseSchedule(totalSteps: stepsPerEpoch * epochs)
        configuration.clipGradientNorm = clipGradNorm
        configuration.l2 = l2
        configuration.frozenLayers = freeze.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        configuration.trainLastDenseLayers = trainLast
        configuration.batchSize = batchSize
        configuration.shuffle = shuffle
        configuration.seed = seed
        configuration.epochs = epochs
        return configuration
    }

    private func parseSchedule(totalSteps: Int) throws -> LearningRateSchedule {
        let parts = schedule.split(separator: ":").map(String.init)
        let numbers = parts.dropFirst().map(Double.init)
        func bad() -> ValidationError {
            ValidationError("--schedule '\(schedule)' is not one of constant, step:SIZE:GAMMA, cosine[:ETA_MIN], warmup:STEPS[:START_FACTOR].")
        }
        guard numbers.allSatisfy({ $0 != nil }) else { throw bad() }
        let values = numbers.compactMap { $0 }
        switch (parts.first, values.count) {
        case ("constant", 0): return .constant
        case ("step", 2): return .step(stepSize: Int(values[0]), gamma: values[1])
        case ("cosine", 0): return .cosine(tMax: max(totalSteps, 1), etaMin: 0)
        case ("cosine", 1): return .cosine(tMax: max(totalSteps, 1), etaMin: values[0])
        case ("warmup", 1): return .warmupLinear(startFactor: 1.0 / 3.0, endFactor: 1, warmupSteps: Int(values[0]))
        case ("warmup", 2): return .warmupLinear(startFactor: values[1], endFactor: 1, warmupSteps: Int(values[0]))
        default: throw bad()
        }
    }
}

enum LossArgument: String, ExpressibleByArgument, CaseIterable {
    case mse, sseHalf = "sse-half", crossEntropy = "cross-entropy", binaryCrossEntropy = "binary-cross-entropy"
    var loss: LossFunction { LossFunction(rawValue: rawValue) ?? .mse }
}

enum OptimizerKindArgument: String, ExpressibleByArgument, CaseIterable {
    case sgd, adam, adamw
}
