import ModelKitCore

/// One dense layer with the activations that follow it, or (at the very start of a model) activations alone.
struct Stage: Sendable {
    /// `nil` for leading activations that come before any dense layer.
    let dense: DenseWeights?
    /// Element-wise activations run in the same pass as the bias, on each output block.
    let activations: [ElementwiseActivation]
    /// Softmax/log-softmax and what follows them: these need whole rows.
    let rowOperations: [RowOperation]
    let inputs: Int
    let outputs: Int
}

/// A model turned into what the forward pass runs: float32 weights (zero-copy when possible), stages, widths.
///
/// Made once per session; immutable afterwards, so any number of threads may read it.
final class PreparedModel: @unchecked Sendable {
    let inputFeatures: Int
    let outputFeatures: Int
    let stages: [Stage]
    /// The widest output of any stage but the last: the size of a workspace's intermediate rows.
    let intermediateWidth: Int
    /// Buffers this object allocated (converted or packed weights).
    private let ownedBuffers: [UnsafeMutableRawPointer]
    /// Tensors whose bytes are used in place; holding them keeps their storage (possibly a mapped file) alive.
    private let retainedTensors: [Tensor]

    /// Prepares `model`, which `analyze()` has found valid, for `inputFeatures` inputs.
    init(model: Model, inputFeatures: Int, usePortableKernel: Bool) throws(EngineError) {
        var owned: [UnsafeMutableRawPointer] = []
        var retained: [Tensor] = []
        var stages: [Stage] = []
        var width = inputFeatures
        // The stage being built.
        var dense: DenseWeights?
        var activations: [ElementwiseActivation] = []
        var rowOperations: [RowOperation] = []
        var stageInputs = inputFeatures
        var stageOpen = false

        func closeStage() {
            if stageOpen {
                stages.append(Stage(dense: dense, activations: activations, rowOperations: rowOperations,
                                    inputs: stageInputs, outputs: width))
            }
            dense = nil
            activations = []
            rowOperations = []
            stageOpen = false
        }

        do {
            for layer in model.layers {
                switch layer.kind {
                case .dense:
                    closeStage()
                    let weights = try Self.prepareDense(layer, in: model, inputs: width, usePortableKernel: usePortableKernel,
                                                        owned: &owned, retained: &retained)
                    stageInputs = width
                    width = weights.outputs
                    dense = weights
                    stageOpen = true
                case .identity, .dropout:
                    continue
                case .softmax, .logSoftmax:
                    if !stageOpen { stageInputs = width; stageOpen = true }
                    rowOperations.append(layer.kind == .softmax ? .softmax : .logSoftmax)
                case .relu, .leakyRelu, .sigmoid, .tanh, .gelu, .silu:
                    guard let activation = ElementwiseActivation(layer: layer) else { continue }
                    if !stageOpen { stageInputs = width; stageOpen = true }
                    if rowOperations.isEmpty {
                        activations.append(activation)
                    } else if case .elementwise(let list) = rowOperations.last {
                        rowOperations[rowOperations.count - 1] = .elementwise(list + [activation])
                    } else {
                        rowOperations.append(.elementwise([activation]))
                    }
                }
            }
            closeStage()
        } catch {
            for buffer in owned { buffer.deallocate() }
            throw error
        }
        self.inputFeatures = inputFeatures
        self.outputFeatures = width
        self.stages = stages
        self.intermediateWidth = stages.dropLast().map(\.outputs).max() ?? 0
        self.ownedBuffers = owned
        self.retainedTensors = retained
    }

    deinit {
        for buffer in ownedBuffers { buffer.deallocate() }
    }

    private static func prepareDense(_ layer: Layer, in model: Model, inputs: Int, usePortableKernel: Bool,
                                     owned: inout [UnsafeMutableRawPointer], retained: inout [Tensor]) throws(EngineError) -> DenseWeights {
        // analyze() has checked presence, rank, dtype, layout and the chain of shapes; these guards only keep the
        // engine safe should it be handed an unchecked model.
        guard let weight = model.parameter("weight", of: layer), weight.tensor.shape.rank == 2,
              let layout = weight.layout, weight.tensor.dtype.isFloatingPoint else {
            throw .unsupportedParameter(layer: layer.name, tensor: layer.parameters["weight"] ?? "weight",
                                        reason: "the dense weight is missing, not 2-D floating point, or has no layout")
        }
        let dimensions = weight.tensor.shape.dimensions
        let (inFeatures, outFeatures) = layout.features(rows: dimensions[0], columns: dimensions[1])
        guard inFeatures == inputs else {
            throw .unsupportedParameter(layer: layer.name, tensor: weight.name,
                                        reason: "takes \(inFeatures) inputs but receives \(inputs)")
        }
        for dimension in [inFeatures, outFeatures] where dimension > Int(Int32.max) {
            throw .tooLarge(layer: layer.name, dimension: dimension)
        }
        var bias: UnsafePointer<Float>?
        if let biasName = layer.parameters["bias"] {
            guard let biasTensor = model.tensor(named: biasName), biasTensor.tensor.dtype.isFloatingPoint,
                  biasTensor.tensor.elementCount == outFeatures else {
                throw .unsupportedParameter(layer: layer.name, tensor: biasName,
                                            reason: "the bias must be a floating-point tensor of \(outFeatures) values")
            }
            bias = floats(of: biasTensor.tensor, owned: &owned, retained: &retained)
        }
        let values = floats(of: weight.tensor, owned: &owned, retained: &retained)
        var packed: UnsafePointer<Float>?
        var swappedCopy: UnsafePointer<Float>?
        let count = inFeatures * outFeatures
        if !usePortableKernel && count <= DenseWeights.swappedCopyLimit {
            let buffer = allocateFloats(count)
            owned.append(UnsafeMutableRawPointer(buffer))
            let (rows, columns) = (dimensions[0], dimensions[1])
            for row in 0..<rows {
                for column in 0..<columns { buffer[column * rows + row] = values[row * columns + column] }
            }
            swappedCopy = UnsafePointer(buffer)
        }
        var panels: UnsafePointer<Float>?
        if !usePortableKernel && PackedKernel.isAvailable {
            let buffer = allocateFloats(PackedKernel.packedCount(inputs: inFeatures, outputs: outFeatures))
            owned.append(UnsafeMutableRawPointer(buffer))
            PackedKernel.pack(values, layout: layout, inputs: inFeatures, outputs: outFeatures, into: buffer)
            panels = UnsafePointer(buffer)
        }
        if usePortableKernel {
            let count = PortableGEMM.packedCount(inputs: inFeatures, outputs: outFeatures)
            let buffer = allocateFloats(count)
            owned.append(UnsafeMutableRawPointer(buffer))
            PortableGEMM.pack(values, layout: layout, inputs: inFeatures, outputs: outFeatures, into: buffer)
            packed = UnsafePointer(buffer)
        }
        return DenseWeights(inputs: inFeatures, outputs: outFeatures, layout: layout, values: values, bias: bias, packed: packed,
                            panels: panels, swappedCopy: swappedCopy)
    }

    /// The tensor's values as float32: its own bytes when they already are (aligned, little-endian float32),
    /// otherwise a converted copy made once here.
    private static func floats(of tensor: Tensor, owned: inout [UnsafeMutableRawPointer],
                               retained: inout [Tensor]) -> UnsafePointer<Float> {
        #if _endian(little)
        if tensor.dtype == .float32, let base = tensor.bytes.baseAddress,
           Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            retained.append(tensor)
            return base.assumingMemoryBound(to: Float.self)
        }
        #endif
        let buffer = allocateFloats(tensor.elementCount)
        owned.append(UnsafeMutableRawPointer(buffer))
        tensor.copyFloats(into: UnsafeMutableBufferPointer(start: buffer, count: tensor.elementCount))
        return UnsafePointer(buffer)
    }
}

/// 64-byte aligned float memory (at least one element, so that the pointer is never null); free with `deallocate()`.
func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        .bindMemory(to: Float.self, capacity: max(count, 1))
}
