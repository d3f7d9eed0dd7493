import ModelKitCore

/// Fine-tunes a ``Model``: forward with cache, loss, backward, clipping, optimizer step and schedule, with
/// PyTorch's semantics (`Specs/training.md`).
///
/// A trainer owns float32 copies of the parameters, their gradients, the optimizer state and a workspace planned for
/// the batch size; steps at or below that size allocate nothing. ``model`` returns the updated model with every
/// tensor under its original name, shape and layout, so it can be written to any format.
///
/// ```swift
/// let trainer = try Trainer(model: model, configuration: TrainingConfiguration(
///     loss: .crossEntropy, optimizer: .sgd(learningRate: 0.1), batchSize: 50))
/// for _ in 0..<3 { _ = try trainer.trainEpoch(data) }
/// let tuned = trainer.model
/// ```
///
/// For custom loops: ``forward(_:rows:)`` → ``computeLoss(targets:)`` → ``backward()`` → ``step()``, or
/// ``trainStep(batchX:batchY:)`` for all four. A trainer is used from one task at a time.
public final class Trainer {
    /// The settings the trainer was made with.
    public let configuration: TrainingConfiguration
    /// Progress: epoch, steps, position in the data order, generator states, loss history.
    public internal(set) var state: TrainingState
    /// The layer the loss absorbs (a final softmax with cross-entropy, a final sigmoid with binary cross-entropy):
    /// not run during training, kept in ``model``.
    public let fusedFinalLayer: String?
    /// The names of the dense layers whose parameters train, in model order.
    public let trainedLayers: [String]

    let original: Model
    let network: TrainingNetwork<Float>
    let optimizer: Optimizer
    var dropoutRandom: TrainingRandom
    /// Batch targets, preallocated to the workspace capacity.
    var classBuffer: UnsafeMutablePointer<Int64>
    var valueBuffer: UnsafeMutablePointer<Float>
    var targetCapacity: Int
    /// Set by ``computeLoss(targets:)``, cleared by ``backward()``.
    var lossReady = false
    var gradientsReady = false

    /// Prepares `model` for training with `configuration`.
    ///
    /// - Throws: ``TrainingError`` when a setting is out of range, a frozen layer does not exist, or a layer or
    ///   tensor cannot be trained (unknown input width, non-float weights, a weight without layout tag).
    public init(model: Model, configuration: TrainingConfiguration) throws(TrainingError) {
        try configuration.validate()
        let names = model.layers.map(\.name)
        for name in configuration.frozenLayers where !names.contains(name) {
            throw .unknownLayer(name: name, available: names)
        }
        var frozen = Set(configuration.frozenLayers)
        if let last = configuration.trainLastDenseLayers {
            let dense = model.layers.filter { $0.kind == .dense }.map(\.name)
            for name in dense.dropLast(min(last, dense.count)) { frozen.insert(name) }
        }
        var layers = model.layers[...]
        var fused: String?
        if let kind = configuration.loss.fusedFinalLayer, let last = model.layers.last, last.kind == kind {
            layers = layers.dropLast()
            fused = last.name
        }
        let network = try TrainingNetwork<Float>(model: model, layers: layers, frozen: frozen)
        self.configuration = configuration
        self.original = model
        self.network = network
        self.fusedFinalLayer = fused
        self.trainedLayers = network.dense.filter(\.trainable).map(\.layerName)
        var bindings: [ParameterBinding] = []
        for slot in network.dense where slot.trainable {
            let weightShape = model.tensor(named: slot.weightName)?.tensor.shape ?? [slot.outputs, slot.inputs]
            bindings.append(ParameterBinding(name: slot.weightName, shape: weightShape, values: slot.weight,
                                             gradient: slot.weightGradient, count: slot.weightCount, isWeight: true))
            if let biasName = slot.biasName, let bias = slot.bias, let gradient = slot.biasGradient {
                bindings.append(ParameterBinding(name: biasName, shape: [slot.outputs], values: bias, gradient: gradient,
                                                 count: slot.outputs, isWeight: false))
            }
        }
        optimizer = Optimizer(configuration: configuration.optimizer, parameters: bindings)
        let shuffleRandom = TrainingRandom(seed: configuration.seed)
        // The dropout generator is seeded apart from the shuffle so that enabling one does not change the other.
        dropoutRandom = TrainingRandom(seed: configuration.seed ^ 0xD1B5_4A32_D192_ED03)
        state = TrainingState(shuffleState: shuffleRandom.state, dropoutState: dropoutRandom.state)
        targetCapacity = 0
        classBuffer = .allocate(capacity: 1)
        valueBuffer = .allocate(capacity: 1)
        reserve(rows: configuration.batchSize)
    }

    deinit {
        classBuffer.deallocate()
        valueBuffer.deallocate()
    }

    /// Plans the workspace for batches of up to `rows` rows (done for the batch size at creation; larger batches
    /// given to ``trainStep(batchX:batchY:)`` grow it once).
    public func reserve(rows: Int) {
        network.reserve(rows: rows)
        guard rows > targetCapacity else { return }
        classBuffer.deallocate()
        valueBuffer.deallocate()
        classBuffer = .allocate(capacity: max(rows, 1))
        valueBuffer = .allocate(capacity: max(rows * network.outputFeatures, 1))
        targetCapacity = rows
    }

    /// The number of input features.
    public var inputFeatures: Int { network.inputFeatures }
    /// The width of the training output (the logits when a final layer is fused).
    public var outputFeatures: Int { network.outputFeatures }

    /// The names of the trainable parameters (weights and biases of the trained layers), in model order.
    public var parameterNames: [String] { optimizer.parameters.map(\.name) }

    /// The model with the current parameter values: same layers, names, shapes and layouts as the original;
    /// trained tensors float32.
    public var model: Model {
        var result = original
        for slot in network.dense where slot.trainable {
            for tensor in network.tensors(of: slot, original: original) { result.addTensor(tensor) }
        }
        return result
    }

    /// The gradients of the last ``backward()`` (after clipping, if ``step()`` clipped), as tensors named like
    /// their parameters, in the parameters' shapes and layouts. Frozen parameters are absent.
    public var gradients: [ModelTensor] {
        optimizer.parameters.map { parameter in
            var tensor = original.tensor(named: parameter.name) ?? ModelTensor(name: parameter.name, tensor: Tensor(float32: [], shape: [0]))
            tensor.tensor = TrainingNetwork<Float>.tensor(parameter.gradient, count: parameter.count, shape: parameter.shape)
            return tensor
        }
    }

    /// The optimizer's state in PyTorch's names (for checkpoints).
    public var optimizerState: OptimizerState { optimizer.exportState() }

    /// Continues from a checkpoint: the optimizer buffers and step counts, and the progress (epoch, position,
    /// generator states, history). Parameters are restored by creating the trainer from the checkpoint's model.
    ///
    /// - Throws: ``TrainingError/stateMismatch(reason:)`` when the state belongs to another model or optimizer.
    public func restore(optimizerState: OptimizerState, trainingState: TrainingState) throws(TrainingError) {
        try optimizer.importState(optimizerState)
        dropoutRandom = try TrainingRandom(state: trainingState.dropoutState)
        _ = try TrainingRandom(state: trainingState.shuffleState)
        state = trainingState
    }
}
