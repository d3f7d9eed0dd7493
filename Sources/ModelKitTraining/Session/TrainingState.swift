import ModelKitCore

/// A training run's progress, enough to resume it bit for bit: where in the data it is, the generator states, and
/// the loss history. Optimizer buffers are in ``OptimizerState``; parameters are in the model.
///
/// The shuffle order of an epoch is `TrainingRandom(state: shuffleState).permutation(of: rows)` (Fisher–Yates), so
/// ``shuffleState`` is the generator state at the start of the current epoch and only moves when an epoch ends.
public struct TrainingState: Sendable, Equatable {
    /// The 0-based epoch in progress (or next, at an epoch boundary).
    public var epoch: Int
    /// Batches of the current epoch already trained: the next batch is number `stepInEpoch`.
    public var stepInEpoch: Int
    /// Optimizer steps done in the whole run (the schedule's position).
    public var globalStep: Int
    /// The shuffle generator's state at the start of the current epoch.
    public var shuffleState: [UInt64]
    /// The dropout generator's current state.
    public var dropoutState: [UInt64]
    /// Every step's loss (with the l2 penalty), in order.
    public var stepLosses: [Double]
    /// The mean step loss of every finished epoch.
    public var epochMeanLosses: [Double]

    /// A state with every field given (a new run: epoch 0, no steps, the generators' seeded states).
    public init(epoch: Int = 0, stepInEpoch: Int = 0, globalStep: Int = 0, shuffleState: [UInt64], dropoutState: [UInt64],
                stepLosses: [Double] = [], epochMeanLosses: [Double] = []) {
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.globalStep = globalStep
        self.shuffleState = shuffleState
        self.dropoutState = dropoutState
        self.stepLosses = stepLosses
        self.epochMeanLosses = epochMeanLosses
    }

    /// The state as JSON (generator words as decimal strings, since JSON numbers lose bits above 2⁵³).
    public var jsonValue: JSONValue {
        .object(JSONObject([
            ("epoch", .integer(epoch)),
            ("step_in_epoch", .integer(stepInEpoch)),
            ("global_step", .integer(globalStep)),
            ("shuffle_state", .array(shuffleState.map { .string(String($0)) })),
            ("dropout_state", .array(dropoutState.map { .string(String($0)) })),
            ("step_losses", .array(stepLosses.map(Self.lossJSON))),
            ("epoch_mean_losses", .array(epochMeanLosses.map(Self.lossJSON))),
        ]))
    }

    /// A loss as JSON: a number, or the strings `"nan"`, `"inf"`, `"-inf"` (format rule J2), because a diverged run
    /// must still checkpoint and resume.
    static func lossJSON(_ value: Double) -> JSONValue {
        if value.isNaN { return .string("nan") }
        if value.isInfinite { return .string(value > 0 ? "inf" : "-inf") }
        return .double(value)
    }

    /// Reads ``jsonValue``'s form.
    ///
    /// - Throws: ``TrainingError/stateMismatch(reason:)`` naming the first missing or malformed key.
    public init(json: JSONValue) throws(TrainingError) {
        func integer(_ key: String) throws(TrainingError) -> Int {
            guard let value = json[key]?.intValue, value >= 0 else {
                throw .stateMismatch(reason: "training state key '\(key)' must be a non-negative integer")
            }
            return value
        }
        func words(_ key: String) throws(TrainingError) -> [UInt64] {
            guard let array = json[key]?.arrayValue else { throw .stateMismatch(reason: "training state key '\(key)' must be an array") }
            var result: [UInt64] = []
            for item in array {
                guard let text = item.stringValue, let word = UInt64(text) else {
                    throw .stateMismatch(reason: "training state key '\(key)' must hold decimal UInt64 strings")
                }
                result.append(word)
            }
            _ = try TrainingRandom(state: result)
            return result
        }
        func numbers(_ key: String) throws(TrainingError) -> [Double] {
            guard let array = json[key]?.arrayValue else { throw .stateMismatch(reason: "training state key '\(key)' must be an array") }
            var result: [Double] = []
            for item in array {
                switch (item.doubleValue, item.stringValue) {
                case (let value?, _): result.append(value)
                case (_, "nan"?): result.append(.nan)
                case (_, "inf"?): result.append(.infinity)
                case (_, "-inf"?): result.append(-.infinity)
                default: throw .stateMismatch(reason: "training state key '\(key)' must hold numbers (or \"nan\", \"inf\", \"-inf\")")
                }
            }
            return result
        }
        self.init(epoch: try integer("epoch"), stepInEpoch: try integer("step_in_epoch"), globalStep: try integer("global_step"),
                  shuffleState: try words("shuffle_state"), dropoutState: try words("dropout_state"),
                  stepLosses: try numbers("step_losses"), epochMeanLosses: try numbers("epoch_mean_losses"))
    }
}
