import ModelKitCore

/// A model's layers as a trainable network in scalar type `T`: parameter copies, their gradients, and the
/// activations of the last forward pass (the cache the backward pass reads).
///
/// Buffers are sized for a batch capacity and reused: a step at or below the capacity allocates nothing.
final class TrainingNetwork<T: TrainingScalar> {
    /// A dense layer's parameters and gradients, in the weight's stored layout.
    struct DenseSlot {
        let layerName: String
        let weightName: String
        let biasName: String?
        let layout: WeightLayout
        let inputs: Int
        let outputs: Int
        let weight: UnsafeMutablePointer<T>
        let bias: UnsafeMutablePointer<T>?
        let weightGradient: UnsafeMutablePointer<T>
        let biasGradient: UnsafeMutablePointer<T>?
        let trainable: Bool
        var weightCount: Int { inputs * outputs }
    }

    enum Step {
        case dense(Int)
        case activation(ActivationRule)
    }

    let steps: [Step]
    let stepNames: [String]
    /// `widths[0]` = input features; `widths[i + 1]` = the output width of step `i`.
    let widths: [Int]
    private(set) var dense: [DenseSlot]
    /// The lowest step whose backward pass is needed (the first trainable dense layer); `steps.count` when none.
    let lowestBackwardStep: Int

    private(set) var capacity = 0
    /// `activations[0]` = the input, `activations[i + 1]` = step i's output; each `capacity × widths[i]`.
    private(set) var activations: [UnsafeMutablePointer<T>] = []
    private(set) var masks: [UnsafeMutablePointer<T>?] = []
    private(set) var deltaA: UnsafeMutablePointer<T>?
    private(set) var deltaB: UnsafeMutablePointer<T>?
    /// Per step: a ReLU the kernel path ran inside the preceding dense product, so that its input buffer was not
    /// written (its backward rule reads its output instead: `y > 0` exactly where `x > 0`).
    var fusedReLU: [Bool]
    /// The products of one stage of a step, for the kernel path (``TrainingKernels``).
    let job = ProductJob()
    /// Per dense slot, for `in_out` weights on the kernel path: the weight transposed to `[out, in]` at each forward
    /// pass, so that both layouts run the same products in the same order (bit-identical results).
    private(set) var transposedWeights: [UnsafeMutablePointer<T>?] = []
    /// Rows of the last forward pass, and whether it drew dropout masks.
    private(set) var rows = 0
    private(set) var maskedForward = false

    var inputFeatures: Int { widths[0] }
    var outputFeatures: Int { widths[widths.count - 1] }

    /// Builds the network from `layers` (the model's layers the training runs: a fused final layer is left out).
    init(model: Model, layers: ArraySlice<Layer>, frozen: Set<String>) throws(TrainingError) {
        var steps: [Step] = [], names: [String] = [], slots: [DenseSlot] = []
        var width = model.info.inputFeatures
        var widths: [Int] = []
        var lowest: Int?
        do throws(TrainingError) {
            for layer in layers {
                if layer.kind == .dense {
                    let slot = try Self.makeSlot(model: model, layer: layer, trainable: !frozen.contains(layer.name))
                    if let width, width != slot.inputs {
                        throw TrainingError.unsupportedLayer(layer: layer.name, reason: "it takes \(slot.inputs) inputs but the previous layer gives \(width)")
                    }
                    if widths.isEmpty { widths.append(slot.inputs) }
                    if slot.trainable, lowest == nil { lowest = steps.count }
                    width = slot.outputs
                    steps.append(.dense(slots.count))
                    slots.append(slot)
                } else {
                    guard let known = width else {
                        throw TrainingError.unsupportedLayer(layer: layer.name, reason: "the input width is unknown before the first dense layer; the model's input shape must be [batch, features]")
                    }
                    if widths.isEmpty { widths.append(known) }
                    steps.append(.activation(try ActivationRule(layer: layer)))
                }
                names.append(layer.name)
                widths.append(width ?? 0)
            }
        } catch {
            for slot in slots { Self.release(slot) }
            throw error
        }
        guard !widths.isEmpty else {
            throw .unsupportedLayer(layer: model.info.name, reason: "the model has no layers to train")
        }
        self.steps = steps
        self.stepNames = names
        self.widths = widths
        self.dense = slots
        self.lowestBackwardStep = lowest ?? steps.count
        self.fusedReLU = Array(repeating: false, count: steps.count)
        self.transposedWeights = slots.map { slot in
            slot.layout == .inOut && Self.usesKernels ? UnsafeMutablePointer<T>.allocate(capacity: max(slot.weightCount, 1)) : nil
        }
    }

    deinit {
        for slot in dense { Self.release(slot) }
        for buffer in transposedWeights { buffer?.deallocate() }
        releaseWorkspace()
    }

    private static func release(_ slot: DenseSlot) {
        slot.weight.deallocate()
        slot.bias?.deallocate()
        slot.weightGradient.deallocate()
        slot.biasGradient?.deallocate()
    }

    private static func makeSlot(model: Model, layer: Layer, trainable: Bool) throws(TrainingError) -> DenseSlot {
        guard let weight = model.parameter("weight", of: layer) else {
            throw .unsupportedLayer(layer: layer.name, reason: "its weight tensor '\(layer.parameters["weight"] ?? "?")' is missing")
        }
        guard weight.tensor.dtype.isFloatingPoint else {
            throw .invalidParameter(tensor: weight.name, reason: "dtype \(weight.tensor.dtype.rawValue) is not floating point")
        }
        guard weight.tensor.shape.rank == 2 else {
            throw .invalidParameter(tensor: weight.name, reason: "shape \(weight.tensor.shape) is not 2-dimensional")
        }
        guard let layout = weight.layout else {
            throw .invalidParameter(tensor: weight.name, reason: "it has no layout tag (in_out or out_in)")
        }
        let dims = weight.tensor.shape.dimensions
        let (inputs, outputs) = layout.features(rows: dims[0], columns: dims[1])
        var biasTensor: ModelTensor?
        if layer.parameters["bias"] != nil {
            guard let bias = model.parameter("bias", of: layer) else {
                throw .unsupportedLayer(layer: layer.name, reason: "its bias tensor '\(layer.parameters["bias"] ?? "?")' is missing")
            }
            guard bias.tensor.dtype.isFloatingPoint, bias.tensor.elementCount == outputs, bias.tensor.shape.rank == 1 else {
                throw .invalidParameter(tensor: bias.name, reason: "a bias of \(bias.tensor.dtype.rawValue) \(bias.tensor.shape) does not fit \(outputs) outputs (expected float [\(outputs)])")
            }
            biasTensor = bias
        }
        let weightValues = copy(weight.tensor)
        let biasValues = biasTensor.map { copy($0.tensor) }
        let weightGradient = UnsafeMutablePointer<T>.allocate(capacity: max(inputs * outputs, 1))
        weightGradient.initialize(repeating: 0, count: max(inputs * outputs, 1))
        let biasGradient = biasValues.map { _ in
            let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(outputs, 1))
            pointer.initialize(repeating: 0, count: max(outputs, 1))
            return pointer
        }
        return DenseSlot(layerName: layer.name, weightName: weight.name, biasName: biasTensor?.name, layout: layout,
                         inputs: inputs, outputs: outputs, weight: weightValues, bias: biasValues,
                         weightGradient: weightGradient, biasGradient: biasGradient, trainable: trainable)
    }

    /// A new buffer holding the tensor's values in `T` (float64 tensors read exactly).
    private static func copy(_ tensor: Tensor) -> UnsafeMutablePointer<T> {
        let count = tensor.elementCount
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        if T.self == Float.self, tensor.dtype != .float64 {
            pointer.withMemoryRebound(to: Float.self, capacity: max(count, 1)) { floats in
                tensor.copyFloats(into: UnsafeMutableBufferPointer(start: floats, count: count))
            }
        } else {
            for index in 0..<count { pointer[index] = T(tensor.element(at: index)) }
        }
        return pointer
    }

    // MARK: Workspace

    /// Makes room for batches of up to `rows` rows (grows only).
    func reserve(rows: Int) {
        guard rows > capacity else { return }
        releaseWorkspace()
        capacity = rows
        activations = widths.map { UnsafeMutablePointer<T>.allocate(capacity: max(rows * $0, 1)) }
        masks = steps.map { step in
            if case .activation(.dropout) = step { return UnsafeMutablePointer<T>.allocate(capacity: max(rows * (widths.max() ?? 1), 1)) }
            return nil
        }
        let widest = max(widths.max() ?? 1, 1)
        deltaA = .allocate(capacity: rows * widest)
        deltaB = .allocate(capacity: rows * widest)
    }

    private func releaseWorkspace() {
        for buffer in activations { buffer.deallocate() }
        for mask in masks { mask?.deallocate() }
        deltaA?.deallocate()
        deltaB?.deallocate()
        activations = []
        masks = []
        deltaA = nil
        deltaB = nil
        capacity = 0
    }

    /// The input buffer of the next forward pass (`capacity × inputFeatures`).
    var inputBuffer: UnsafeMutablePointer<T> { activations[0] }

    /// Makes `rows` the input of the passes until ``restoreInput(_:)`` (which must get the returned buffer back);
    /// the passes only read it.
    func borrowInput(_ rows: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
        let own = activations[0]
        activations[0] = rows
        return own
    }

    /// Ends ``borrowInput(_:)``.
    func restoreInput(_ own: UnsafeMutablePointer<T>) { activations[0] = own }
    /// The output of the last forward pass.
    var output: UnsafeMutablePointer<T> { activations[activations.count - 1] }
    /// Where the loss writes ∂L/∂output before ``backward()``.
    var outputGradient: UnsafeMutablePointer<T> {
        guard let deltaA else { preconditionFailure("reserve(rows:) before use") }
        return deltaA
    }

    // MARK: Passes

    /// Runs the layers on the `rows` rows already in ``inputBuffer``; keeps every layer's output for ``backward()``.
    /// `dropoutMask` fills a dropout layer's mask (training mode); `nil` runs dropout as the identity.
    func forward(rows: Int, dropoutMask: ((UnsafeMutablePointer<T>, Int, Double) -> Void)?) {
        precondition(rows <= capacity, "reserve(rows:) first")
        self.rows = rows
        maskedForward = dropoutMask != nil
        if Self.usesKernels {
            forwardWithKernels(rows: rows, dropoutMask: dropoutMask)
            return
        }
        for (index, step) in steps.enumerated() {
            let input = UnsafePointer(activations[index]), output = activations[index + 1]
            switch step {
            case .dense(let slotIndex):
                let slot = dense[slotIndex]
                DenseRule.forward(input: input, weight: slot.weight, bias: slot.bias, output: output, rows: rows,
                                  inputs: slot.inputs, outputs: slot.outputs, layout: slot.layout)
            case .activation(let rule):
                var mask: UnsafePointer<T>?
                if case .dropout(let rate) = rule, rate > 0, let dropoutMask, let buffer = masks[index] {
                    dropoutMask(buffer, rows * widths[index], rate)
                    mask = UnsafePointer(buffer)
                }
                rule.forward(input: input, output: output, rows: rows, width: widths[index], mask: mask)
            }
        }
    }

    /// Back-propagates ∂L/∂output (in ``outputGradient``) through the last forward pass, overwriting the gradients
    /// of every trainable parameter. Stops below the first trainable layer.
    func backward() {
        if Self.usesKernels {
            backwardWithKernels()
            return
        }
        guard var delta = deltaA, var spare = deltaB else { preconditionFailure("reserve(rows:) before use") }
        var index = steps.count - 1
        while index >= lowestBackwardStep {
            let input = UnsafePointer(activations[index])
            switch steps[index] {
            case .dense(let slotIndex):
                let slot = dense[slotIndex]
                if slot.trainable {
                    DenseRule.parameterGradients(input: input, outputGradient: delta, weightGradient: slot.weightGradient,
                                                 biasGradient: slot.biasGradient, rows: rows, inputs: slot.inputs,
                                                 outputs: slot.outputs, layout: slot.layout)
                }
                if index > lowestBackwardStep {
                    DenseRule.inputGradient(outputGradient: delta, weight: slot.weight, inputGradient: spare, rows: rows,
                                            inputs: slot.inputs, outputs: slot.outputs, layout: slot.layout)
                    swap(&delta, &spare)
                }
            case .activation(let rule):
                var mask: UnsafePointer<T>?
                if maskedForward, case .dropout(let rate) = rule, rate > 0, let buffer = masks[index] { mask = UnsafePointer(buffer) }
                rule.backward(input: input, output: activations[index + 1], outputGradient: delta, inputGradient: spare,
                              rows: rows, width: widths[index], mask: mask)
                swap(&delta, &spare)
            }
            index -= 1
        }
    }

    // MARK: Export

    /// The current values of a dense slot's weight and bias as float32 tensors in their original shapes.
    func tensors(of slot: DenseSlot, original model: Model) -> [ModelTensor] {
        var result: [ModelTensor] = []
        if let original = model.tensor(named: slot.weightName) {
            var updated = original
            updated.tensor = Self.tensor(slot.weight, count: slot.weightCount, shape: original.tensor.shape)
            result.append(updated)
        }
        if let biasName = slot.biasName, let bias = slot.bias, let original = model.tensor(named: biasName) {
            var updated = original
            updated.tensor = Self.tensor(bias, count: slot.outputs, shape: original.tensor.shape)
            result.append(updated)
        }
        return result
    }

    static func tensor(_ values: UnsafePointer<T>, count: Int, shape: Shape) -> Tensor {
        Tensor.make(dtype: .float32, shape: shape) { raw in
            for index in 0..<count {
                raw.storeBytes(of: Float(values[index]).bitPattern.littleEndian, toByteOffset: 4 * index, as: UInt32.self)
            }
        }
    }
}
