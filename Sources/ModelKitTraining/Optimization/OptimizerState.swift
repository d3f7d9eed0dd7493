import ModelKitCore

/// A named float32 tensor of saved training state, e.g. `fc1.weight.exp_avg`.
public struct NamedTensor: Sendable {
    /// `<parameter>.<buffer>`.
    public var name: String
    /// The float32 values in the parameter's shape.
    public var tensor: Tensor

    /// A named tensor.
    public init(name: String, tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }
}

/// An optimizer's state, for checkpoints: per parameter its step count and buffers, named as PyTorch names them
/// (`<parameter>.exp_avg`, `<parameter>.exp_avg_sq`, `<parameter>.momentum_buffer`), each float32 in the
/// parameter's own shape and layout.
///
/// Frozen parameters have no entry (PyTorch never gives them to the optimizer). A parameter that has not been
/// stepped yet has no buffers either.
public struct OptimizerState: Sendable {
    /// The algorithm that wrote the state.
    public var kind: OptimizerKind
    /// Parameter name → completed steps (`t` of Adam's bias correction).
    public var steps: [String: Int]
    /// The buffers, in parameter order.
    public var tensors: [NamedTensor]

    /// A state with every field given.
    public init(kind: OptimizerKind, steps: [String: Int], tensors: [NamedTensor]) {
        self.kind = kind
        self.steps = steps
        self.tensors = tensors
    }

    /// The buffer called `name`.
    public func tensor(named name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
}
