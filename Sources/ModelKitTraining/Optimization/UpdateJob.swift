import ModelKitEngine

/// One parameter's element-wise optimizer update with this step's coefficients.
struct ParameterUpdate {
    enum Rule {
        case sgd(buffer: UnsafeMutablePointer<Float>?, first: Bool, decay: Float, momentum: Float, keep: Float,
                 nesterov: Bool, learningRate: Float)
        case adam(m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, shrink: Float?, decay: Float,
                  weight1: Float, beta2: Float, weight2: Float, correction2Root: Float, eps: Float, stepSize: Float)
    }

    let p: UnsafeMutablePointer<Float>
    let g: UnsafePointer<Float>
    let count: Int
    let rule: Rule

    func run(_ range: Range<Int>) {
        switch rule {
        case let .sgd(buffer, first, decay, momentum, keep, nesterov, learningRate):
            UpdateKernels.sgd(range, p: p, g: g, buffer: buffer, first: first, decay: decay, momentum: momentum,
                              keep: keep, nesterov: nesterov, learningRate: learningRate)
        case let .adam(m, v, shrink, decay, weight1, beta2, weight2, correction2Root, eps, stepSize):
            UpdateKernels.adam(range, p: p, g: g, m: m, v: v, shrink: shrink, decay: decay, weight1: weight1,
                               beta2: beta2, weight2: weight2, correction2Root: correction2Root, eps: eps,
                               stepSize: stepSize)
        }
    }
}

/// The updates of every parameter in one step, as one job for the engine's worker threads: the elements of all
/// parameters are cut into about two parts per thread (whole cache lines each), so that a network of one large and
/// several small tensors keeps every thread busy, and a step hands work to threads once rather than per tensor.
///
/// Made once per optimizer and reused (the lists keep their capacity).
final class UpdateJob: ParallelJob, @unchecked Sendable {
    /// Below this many elements in all, one thread is faster than waking another.
    static let minimumParallelCount = 32_768

    private var updates: [ParameterUpdate] = []
    private var segments: [(update: Int, range: Range<Int>)] = []

    func append(_ update: ParameterUpdate) {
        if update.count > 0 { updates.append(update) }
    }

    /// Runs the updates added since the last run, then forgets them.
    func run() {
        defer {
            updates.removeAll(keepingCapacity: true)
            segments.removeAll(keepingCapacity: true)
        }
        var total = 0
        for update in updates { total += update.count }
        let pool = WorkerPool.shared
        guard total >= Self.minimumParallelCount, pool.width > 1 else {
            for update in updates { update.run(0..<update.count) }
            return
        }
        var chunk = (total + 2 * pool.width - 1) / (2 * pool.width)
        chunk = (chunk + 15) / 16 * 16
        for (index, update) in updates.enumerated() {
            var start = 0
            while start < update.count {
                let end = min(update.count, start + chunk)
                segments.append((index, start..<end))
                start = end
            }
        }
        pool.run(self, taskCount: segments.count, threads: pool.width)
    }

    func runTask(_ index: Int) {
        let segment = segments[index]
        updates[segment.update].run(segment.range)
    }
}
