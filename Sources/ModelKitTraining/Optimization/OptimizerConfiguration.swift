/// The optimizer algorithms, with PyTorch's update rules (`foreach=False` single-tensor code).
public enum OptimizerKind: String, Sendable, CaseIterable, Codable {
    case sgd
    case adam
    case adamw
}

/// An optimizer and its hyperparameters. The factory methods take PyTorch's defaults.
///
/// ```swift
/// let sgd = OptimizerConfiguration.sgd(learningRate: 0.1, momentum: 0.9, nesterov: true)
/// let adamW = OptimizerConfiguration.adamW(learningRate: 1e-3) // weight decay 0.01, as torch.optim.AdamW
/// ```
public struct OptimizerConfiguration: Sendable, Equatable {
    /// The algorithm.
    public var kind: OptimizerKind
    /// The base learning rate (a schedule scales it per step).
    public var learningRate: Double
    /// SGD only: the momentum factor μ (0 = plain SGD).
    public var momentum: Double
    /// SGD only: dampening of the momentum buffer after the first step.
    public var dampening: Double
    /// SGD only: Nesterov momentum (needs `momentum > 0` and `dampening == 0`, as torch).
    public var nesterov: Bool
    /// L2-style decay added to the gradient (SGD, Adam) or decoupled (AdamW); applies to every trainable parameter.
    public var weightDecay: Double
    /// Adam/AdamW: the first-moment decay β1.
    public var beta1: Double
    /// Adam/AdamW: the second-moment decay β2.
    public var beta2: Double
    /// Adam/AdamW: added after `√v̂` (torch's placement).
    public var epsilon: Double

    /// A configuration with every field given.
    public init(kind: OptimizerKind, learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                nesterov: Bool = false, weightDecay: Double = 0, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8) {
        self.kind = kind
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// `torch.optim.SGD` (lr required; momentum, dampening, weight decay 0; no Nesterov).
    public static func sgd(learningRate: Double, momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false,
                           weightDecay: Double = 0) -> OptimizerConfiguration {
        OptimizerConfiguration(kind: .sgd, learningRate: learningRate, momentum: momentum, dampening: dampening,
                               nesterov: nesterov, weightDecay: weightDecay)
    }

    /// `torch.optim.Adam` (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0).
    public static func adam(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                            epsilon: Double = 1e-8, weightDecay: Double = 0) -> OptimizerConfiguration {
        OptimizerConfiguration(kind: .adam, learningRate: learningRate, weightDecay: weightDecay, beta1: beta1,
                               beta2: beta2, epsilon: epsilon)
    }

    /// `torch.optim.AdamW` (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01).
    public static func adamW(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                             epsilon: Double = 1e-8, weightDecay: Double = 0.01) -> OptimizerConfiguration {
        OptimizerConfiguration(kind: .adamw, learningRate: learningRate, weightDecay: weightDecay, beta1: beta1,
                               beta2: beta2, epsilon: epsilon)
    }

    /// Checks the ranges torch checks.
    ///
    /// - Throws: ``TrainingError/invalidConfiguration(name:reason:)``.
    public func validate() throws(TrainingError) {
        func require(_ ok: Bool, _ name: String, _ reason: String) throws(TrainingError) {
            if !ok { throw .invalidConfiguration(name: name, reason: reason) }
        }
        try require(learningRate.isFinite && learningRate >= 0, "lr", "\(learningRate) must be a non-negative number")
        try require(weightDecay.isFinite && weightDecay >= 0, "weight_decay", "\(weightDecay) must be a non-negative number")
        switch kind {
        case .sgd:
            try require(momentum.isFinite && momentum >= 0, "momentum", "\(momentum) must be a non-negative number")
            try require(dampening.isFinite, "dampening", "\(dampening) must be a number")
            try require(!nesterov || (momentum > 0 && dampening == 0), "nesterov",
                        "Nesterov momentum needs momentum > 0 and dampening 0 (momentum \(momentum), dampening \(dampening))")
        case .adam, .adamw:
            try require(beta1 >= 0 && beta1 < 1, "betas", "beta1 \(beta1) must lie in [0, 1)")
            try require(beta2 >= 0 && beta2 < 1, "betas", "beta2 \(beta2) must lie in [0, 1)")
            try require(epsilon.isFinite && epsilon >= 0, "eps", "\(epsilon) must be a non-negative number")
        }
    }
}
