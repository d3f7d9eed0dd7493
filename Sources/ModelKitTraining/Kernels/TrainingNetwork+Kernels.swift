import CModelKitKernels
import ModelKitCore

/// The float32 passes on ``TrainingKernels`` (AVX-512 CPUs): the same rules as the generic passes, with a dense
/// layer's bias and a following ReLU applied inside its forward product, the ReLU's backward rule inside the next
/// layer's ∂L/∂X product, and a layer's ∇W and ∂L/∂X computed as one job on the engine's worker threads.
extension TrainingNetwork {
    /// Whether ``forward(rows:dropoutMask:)`` and ``backward()`` take the kernel path.
    static var usesKernels: Bool { T.self == Float.self && TrainingKernels.isAvailable }

    @inline(__always)
    private func floats(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Float.self)
    }

    private func isReLU(_ index: Int) -> Bool {
        guard index < steps.count, case .activation(.relu) = steps[index] else { return false }
        return true
    }

    func forwardWithKernels(rows: Int, dropoutMask: ((UnsafeMutablePointer<T>, Int, Double) -> Void)?) {
        var index = 0
        while index < steps.count {
            fusedReLU[index] = false
            let input = UnsafePointer(activations[index])
            switch steps[index] {
            case .dense(let slotIndex):
                let slot = dense[slotIndex]
                guard rows > 0, slot.inputs > 0, slot.outputs > 0 else {
                    DenseRule.forward(input: input, weight: slot.weight, bias: slot.bias, output: activations[index + 1],
                                      rows: rows, inputs: slot.inputs, outputs: slot.outputs, layout: slot.layout)
                    index += 1
                    continue
                }
                let fuse = isReLU(index + 1)
                let x = UnsafePointer(floats(activations[index])), w = UnsafePointer(floats(outInWeight(slotIndex)))
                let y = floats(activations[fuse ? index + 2 : index + 1])
                let bias = slot.bias.map { UnsafePointer(floats($0)) }
                job.append(ProductTask(kind: .dot, m: rows, n: slot.outputs, k: slot.inputs, a: x, aRow: slot.inputs,
                                       aColumn: 1, b: w, ldb: slot.inputs, c: y, ldc: slot.outputs, bias: bias, relu: fuse))
                job.run()
                if fuse {
                    fusedReLU[index + 1] = true
                    index += 2
                } else {
                    index += 1
                }
            case .activation(let rule):
                var mask: UnsafePointer<T>?
                if case .dropout(let rate) = rule, rate > 0, let dropoutMask, let buffer = masks[index] {
                    dropoutMask(buffer, rows * widths[index], rate)
                    mask = UnsafePointer(buffer)
                }
                rule.forward(input: input, output: activations[index + 1], rows: rows, width: widths[index], mask: mask)
                index += 1
            }
        }
    }

    func backwardWithKernels() {
        guard var delta = deltaA, var spare = deltaB else { preconditionFailure("reserve(rows:) before use") }
        var index = steps.count - 1
        while index >= lowestBackwardStep {
            switch steps[index] {
            case .dense(let slotIndex):
                let slot = dense[slotIndex]
                let needsInputGradient = index > lowestBackwardStep
                guard rows > 0, slot.inputs > 0, slot.outputs > 0 else {
                    backwardGeneric(slot, index: index, delta: delta, spare: spare)
                    if needsInputGradient { swap(&delta, &spare) }
                    index -= 1
                    continue
                }
                let x = UnsafePointer(floats(activations[index]))
                let d = UnsafePointer(floats(delta))
                let inputs = slot.inputs, outputs = slot.outputs
                if slot.trainable {
                    let gw = floats(slot.weightGradient)
                    switch slot.layout {
                    case .outIn:  // [out, in] = δᵀ · X
                        job.append(ProductTask(kind: .broadcast, m: outputs, n: inputs, k: rows, a: d, aRow: 1,
                                               aColumn: outputs, b: x, ldb: inputs, c: gw, ldc: inputs))
                    case .inOut:  // [in, out] = Xᵀ · δ
                        job.append(ProductTask(kind: .broadcast, m: inputs, n: outputs, k: rows, a: x, aRow: 1,
                                               aColumn: inputs, b: d, ldb: outputs, c: gw, ldc: outputs))
                    }
                    if let gb = slot.biasGradient { mk_train_column_sums(Int64(rows), Int64(outputs), d, Int64(outputs), floats(gb)) }
                }
                var next = index - 1
                if needsInputGradient {
                    // A ReLU just below ran inside this layer's input product: apply its rule here, from its output.
                    var gate: UnsafePointer<Float>?
                    if fusedReLU[index - 1] {
                        gate = x
                        next = index - 2
                    }
                    // δ · W[out, in] (the transposed copy of an in_out weight, made by the forward pass)
                    let weight = UnsafePointer(floats(transposedWeights[slotIndex] ?? slot.weight))
                    job.append(ProductTask(kind: .broadcast, m: rows, n: inputs, k: outputs, a: d, aRow: outputs,
                                           aColumn: 1, b: weight, ldb: inputs, c: floats(spare), ldc: inputs, gate: gate))
                }
                job.run()
                if needsInputGradient { swap(&delta, &spare) }
                index = next
            case .activation(let rule):
                var mask: UnsafePointer<T>?
                if maskedForward, case .dropout(let rate) = rule, rate > 0, let buffer = masks[index] { mask = UnsafePointer(buffer) }
                // A fused ReLU's input was never written; its output gives the same rule.
                let input = UnsafePointer(activations[fusedReLU[index] ? index + 1 : index])
                rule.backward(input: input, output: activations[index + 1], outputGradient: delta, inputGradient: spare,
                              rows: rows, width: widths[index], mask: mask)
                swap(&delta, &spare)
                index -= 1
            }
        }
    }

    /// The slot's weight as `[out, in]`: the stored one, or for `in_out` the transposed copy, refreshed here.
    private func outInWeight(_ slotIndex: Int) -> UnsafeMutablePointer<T> {
        let slot = dense[slotIndex]
        guard let copy = transposedWeights[slotIndex] else { return slot.weight }
        mk_train_transpose(Int64(slot.inputs), Int64(slot.outputs), floats(slot.weight), Int64(slot.outputs), floats(copy),
                           Int64(slot.inputs))
        return copy
    }

    /// A dense layer with an empty dimension, through the generic rules.
    private func backwardGeneric(_ slot: DenseSlot, index: Int, delta: UnsafeMutablePointer<T>, spare: UnsafeMutablePointer<T>) {
        let input = UnsafePointer(activations[index])
        if slot.trainable {
            DenseRule.parameterGradients(input: input, outputGradient: delta, weightGradient: slot.weightGradient,
                                         biasGradient: slot.biasGradient, rows: rows, inputs: slot.inputs,
                                         outputs: slot.outputs, layout: slot.layout)
        }
        if index > lowestBackwardStep {
            DenseRule.inputGradient(outputGradient: delta, weight: slot.weight, inputGradient: spare, rows: rows,
                                    inputs: slot.inputs, outputs: slot.outputs, layout: slot.layout)
        }
    }
}
