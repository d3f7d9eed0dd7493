#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ModelKitCore

/// A trainable float32 tensor as the optimizer sees it: its values and gradient, in place.
struct ParameterBinding {
    let name: String
    let shape: Shape
    let values: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>
    let count: Int
    /// A dense weight (the l2 penalty applies), not a bias.
    let isWeight: Bool
}

/// PyTorch's SGD, Adam and AdamW updates on float32 parameters, in torch's operation order (`Specs/training.md`,
/// "Optimizers"). Scalars are computed in float64 and rounded to float32 where they meet the tensors, as torch does.
final class Optimizer {
    let configuration: OptimizerConfiguration
    let parameters: [ParameterBinding]
    /// Per parameter: steps done, and the buffers (allocated on the parameter's first step, as torch does).
    private var steps: [Int]
    private var firstMoment: [UnsafeMutablePointer<Float>?]
    private var secondMoment: [UnsafeMutablePointer<Float>?]
    private var momentum: [UnsafeMutablePointer<Float>?]
    /// The step's updates, run together.
    private let job = UpdateJob()

    init(configuration: OptimizerConfiguration, parameters: [ParameterBinding]) {
        self.configuration = configuration
        self.parameters = parameters
        steps = Array(repeating: 0, count: parameters.count)
        firstMoment = Array(repeating: nil, count: parameters.count)
        secondMoment = Array(repeating: nil, count: parameters.count)
        momentum = Array(repeating: nil, count: parameters.count)
    }

    deinit {
        for buffer in firstMoment + secondMoment + momentum { buffer?.deallocate() }
    }

    private static func zeros(_ count: Int) -> UnsafeMutablePointer<Float> {
        let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        return pointer
    }

    /// Updates every parameter from its gradient with learning rate `learningRate` (this step's scheduled rate).
    func step(learningRate: Double) {
        for index in parameters.indices {
            steps[index] += 1
            switch configuration.kind {
            case .sgd: sgd(index, learningRate: learningRate)
            case .adam, .adamw: adam(index, learningRate: learningRate, decoupled: configuration.kind == .adamw)
            }
        }
        job.run()
    }

    private func sgd(_ index: Int, learningRate: Double) {
        let parameter = parameters[index]
        let p = parameter.values, g = UnsafePointer(parameter.gradient)
        let decay = Float(configuration.weightDecay), lr = Float(learningRate)
        let mu = Float(configuration.momentum), keep = Float(1 - configuration.dampening)
        let nesterov = configuration.nesterov
        var buffer: UnsafeMutablePointer<Float>?
        var first = false
        if configuration.momentum != 0 {
            // torch: the first step clones the gradient into the buffer (no dampening).
            first = momentum[index] == nil
            buffer = momentum[index] ?? Self.zeros(parameter.count)
            momentum[index] = buffer
        }
        job.append(ParameterUpdate(p: p, g: g, count: parameter.count,
                                   rule: .sgd(buffer: buffer, first: first, decay: decay, momentum: mu, keep: keep,
                                              nesterov: nesterov, learningRate: lr)))
    }

    private func adam(_ index: Int, learningRate: Double, decoupled: Bool) {
        let parameter = parameters[index]
        let p = parameter.values, g = UnsafePointer(parameter.gradient)
        let m = firstMoment[index] ?? Self.zeros(parameter.count)
        let v = secondMoment[index] ?? Self.zeros(parameter.count)
        firstMoment[index] = m
        secondMoment[index] = v
        let t = Double(steps[index])
        let beta1 = configuration.beta1, beta2 = configuration.beta2
        let stepSize = Float(learningRate / (1 - pow(beta1, t)))
        let correction2Root = Float((1 - pow(beta2, t)).squareRoot())
        let weight1 = Float(1 - beta1), beta2f = Float(beta2), weight2 = Float(1 - beta2), eps = Float(configuration.epsilon)
        let coupledDecay: Float = decoupled ? 0 : Float(configuration.weightDecay)
        let shrink: Float? = decoupled && configuration.weightDecay != 0 ? Float(1 - learningRate * configuration.weightDecay) : nil
        // torch's lerp_ with weight < 0.5 is m + w·(g − m); eps is added after √v / √(1 − β2ᵗ).
        job.append(ParameterUpdate(p: p, g: g, count: parameter.count,
                                   rule: .adam(m: m, v: v, shrink: shrink, decay: coupledDecay, weight1: weight1,
                                               beta2: beta2f, weight2: weight2, correction2Root: correction2Root, eps: eps,
                                               stepSize: stepSize)))
    }

    // MARK: State

    /// The state in PyTorch's names.
    func exportState() -> OptimizerState {
        var stepCounts: [String: Int] = [:]
        var tensors: [NamedTensor] = []
        for (index, parameter) in parameters.enumerated() where steps[index] > 0 {
            stepCounts[parameter.name] = steps[index]
            let buffers: [(String, UnsafeMutablePointer<Float>?)] = [
                ("exp_avg", firstMoment[index]), ("exp_avg_sq", secondMoment[index]), ("momentum_buffer", momentum[index]),
            ]
            for (suffix, buffer) in buffers {
                guard let buffer else { continue }
                tensors.append(NamedTensor(name: "\(parameter.name).\(suffix)",
                                           tensor: TrainingNetwork<Float>.tensor(buffer, count: parameter.count, shape: parameter.shape)))
            }
        }
        return OptimizerState(kind: configuration.kind, steps: stepCounts, tensors: tensors)
    }

    /// Replaces the state with a saved one.
    ///
    /// - Throws: ``TrainingError/stateMismatch(reason:)`` when the algorithm differs, a name is unknown, or a
    ///   buffer's shape differs from its parameter's.
    func importState(_ state: OptimizerState) throws(TrainingError) {
        guard state.kind == configuration.kind else {
            throw .stateMismatch(reason: "the state is for \(state.kind.rawValue), the optimizer is \(configuration.kind.rawValue)")
        }
        let known = Set(parameters.map(\.name))
        for name in state.steps.keys where !known.contains(name) {
            throw .stateMismatch(reason: "optimizer state for '\(name)', which is not a trainable parameter of this model")
        }
        var newSteps = Array(repeating: 0, count: parameters.count)
        var loaded: [String: [Float]] = [:]
        for (index, parameter) in parameters.enumerated() {
            guard let count = state.steps[parameter.name] else { continue }
            guard count >= 0 else { throw .stateMismatch(reason: "negative step count \(count) for '\(parameter.name)'") }
            newSteps[index] = count
        }
        let suffixes = ["exp_avg", "exp_avg_sq", "momentum_buffer"]
        for named in state.tensors {
            guard let parameter = parameters.first(where: { p in suffixes.contains { named.name == "\(p.name).\($0)" } }) else {
                throw .stateMismatch(reason: "optimizer buffer '\(named.name)' names no trainable parameter")
            }
            guard named.tensor.shape == parameter.shape, named.tensor.dtype.isFloatingPoint else {
                throw .stateMismatch(reason: "buffer '\(named.name)' is \(named.tensor.dtype.rawValue) \(named.tensor.shape); expected float32 \(parameter.shape)")
            }
            loaded[named.name] = named.tensor.floatValues()
        }
        for buffer in firstMoment + secondMoment + momentum { buffer?.deallocate() }
        func restore(_ name: String, _ count: Int) -> UnsafeMutablePointer<Float>? {
            guard let values = loaded[name] else { return nil }
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(from: values, count: count)
            return pointer
        }
        for (index, parameter) in parameters.enumerated() {
            firstMoment[index] = restore("\(parameter.name).exp_avg", parameter.count)
            secondMoment[index] = restore("\(parameter.name).exp_avg_sq", parameter.count)
            momentum[index] = restore("\(parameter.name).momentum_buffer", parameter.count)
        }
        steps = newSteps
    }
}
