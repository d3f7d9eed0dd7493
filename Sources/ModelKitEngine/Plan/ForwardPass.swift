/// Buffers for one forward pass of up to `capacity` rows: two intermediate row blocks used in turn, an input
/// conversion buffer, and the job object handed to the worker pool. Reused across calls (see ``WorkspacePool``).
final class Workspace: @unchecked Sendable {
    let capacity: Int
    private let intermediateA: UnsafeMutablePointer<Float>
    private let intermediateB: UnsafeMutablePointer<Float>
    /// Converted input rows (float16, bfloat16, float64 or unaligned float32 inputs); allocated on first need.
    private(set) var inputScratch: UnsafeMutablePointer<Float>?
    private let inputWidth: Int
    let job: ForwardJob

    init(capacity: Int, model: PreparedModel, blas: BLASFunctions) {
        self.capacity = capacity
        let intermediate = capacity * model.intermediateWidth
        intermediateA = allocateFloats(intermediate)
        intermediateB = allocateFloats(intermediate)
        inputWidth = model.inputFeatures
        job = ForwardJob(model: model, blas: blas)
    }

    deinit {
        intermediateA.deallocate()
        intermediateB.deallocate()
        inputScratch?.deallocate()
    }

    /// The buffer stage `index` writes (when it is not the last stage).
    func intermediate(for index: Int) -> UnsafeMutablePointer<Float> {
        index % 2 == 0 ? intermediateA : intermediateB
    }

    /// Room for `capacity` converted input rows.
    func inputBuffer() -> UnsafeMutablePointer<Float> {
        if let inputScratch { return inputScratch }
        let buffer = allocateFloats(capacity * inputWidth)
        inputScratch = buffer
        return buffer
    }

    /// Runs every stage on `rows` rows (`rows ≤ capacity`): `input` has row stride `inputStride`, `output` gets
    /// `rows × outputFeatures` values, densely.
    func forward(rows: Int, input: UnsafePointer<Float>, inputStride: Int, output: UnsafeMutablePointer<Float>,
                 pool: WorkerPool, threads: Int) {
        let model = job.model
        guard !model.stages.isEmpty else {
            for row in 0..<rows {
                (output + row * model.outputFeatures).update(from: input + row * inputStride, count: model.outputFeatures)
            }
            return
        }
        var source = input
        var sourceStride = inputStride
        let last = model.stages.count - 1
        for index in 0...last {
            let stage = model.stages[index]
            let destination = index == last ? output : intermediate(for: index)
            job.configure(stage: index, rows: rows, source: source, sourceStride: sourceStride,
                          destination: destination, destinationStride: stage.outputs)
            if let dense = stage.dense {
                let split = WorkSplit.make(rows: rows, columns: dense.outputs, depth: dense.inputs, threads: threads,
                                           alignment: WorkSplit.columnAlignment(for: dense, rows: rows))
                job.phase = .dense(split)
                pool.run(job, taskCount: split.taskCount, threads: threads)
                if !split.byRows && split.taskCount > 1 && !stage.rowOperations.isEmpty {
                    // Column blocks do not hold whole rows: softmax and what follows it run as a second pass.
                    let rowSplit = WorkSplit.rowsOnly(rows: rows, width: stage.outputs, threads: threads)
                    job.phase = .rowOperations(rowSplit)
                    pool.run(job, taskCount: rowSplit.taskCount, threads: threads)
                }
            } else {
                let rowSplit = WorkSplit.rowsOnly(rows: rows, width: stage.outputs, threads: threads)
                job.phase = .activationsOnly(rowSplit)
                pool.run(job, taskCount: rowSplit.taskCount, threads: threads)
            }
            source = UnsafePointer(destination)
            sourceStride = stage.outputs
        }
    }
}

/// The task body the worker pool runs: one block of one stage. Configured by the thread that owns the workspace
/// before each `WorkerPool.run`, read by the workers only during it.
final class ForwardJob: ParallelJob, @unchecked Sendable {
    enum Phase {
        case dense(WorkSplit)
        case rowOperations(WorkSplit)
        case activationsOnly(WorkSplit)
    }

    let model: PreparedModel
    let blas: BLASFunctions
    var phase: Phase = .rowOperations(WorkSplit(byRows: true, taskCount: 0, blockSize: 1))
    private var stageIndex = 0
    private var rows = 0
    private var source: UnsafePointer<Float>?
    private var sourceStride = 0
    private var destination: UnsafeMutablePointer<Float>?
    private var destinationStride = 0

    init(model: PreparedModel, blas: BLASFunctions) {
        self.model = model
        self.blas = blas
    }

    func configure(stage: Int, rows: Int, source: UnsafePointer<Float>, sourceStride: Int,
                   destination: UnsafeMutablePointer<Float>, destinationStride: Int) {
        stageIndex = stage
        self.rows = rows
        self.source = source
        self.sourceStride = sourceStride
        self.destination = destination
        self.destinationStride = destinationStride
    }

    func runTask(_ index: Int) {
        guard let source, let destination else { return }
        let stage = model.stages[stageIndex]
        switch phase {
        case .dense(let split):
            guard let dense = stage.dense else { return }
            var rowRange = 0..<rows
            var columnRange = 0..<dense.outputs
            if split.byRows {
                rowRange = Swift.min(rows, index * split.blockSize)..<Swift.min(rows, (index + 1) * split.blockSize)
            } else {
                columnRange = Swift.min(dense.outputs, index * split.blockSize)..<Swift.min(dense.outputs, (index + 1) * split.blockSize)
            }
            let output = destination + rowRange.lowerBound * destinationStride
            MatrixKernel.multiplyWithEpilogue(rows: rowRange.count, columns: columnRange,
                                              a: source + rowRange.lowerBound * sourceStride, lda: sourceStride, weights: dense,
                                              c: output, ldc: destinationStride, blas: blas, activations: stage.activations)
            if split.byRows || split.taskCount == 1 {
                for operation in stage.rowOperations {
                    operation.apply(rows: rowRange.count, width: stage.outputs, base: output, stride: destinationStride)
                }
            }
        case .rowOperations(let split):
            let rowRange = block(index, split)
            let output = destination + rowRange.lowerBound * destinationStride
            for operation in stage.rowOperations {
                operation.apply(rows: rowRange.count, width: stage.outputs, base: output, stride: destinationStride)
            }
        case .activationsOnly(let split):
            let rowRange = block(index, split)
            let output = destination + rowRange.lowerBound * destinationStride
            for row in rowRange {
                (destination + row * destinationStride).update(from: source + row * sourceStride, count: stage.outputs)
            }
            Epilogue.apply(rows: rowRange.count, columns: 0..<stage.outputs, base: output, stride: destinationStride,
                           bias: nil, activations: stage.activations)
            for operation in stage.rowOperations {
                operation.apply(rows: rowRange.count, width: stage.outputs, base: output, stride: destinationStride)
            }
        }
    }

    private func block(_ index: Int, _ split: WorkSplit) -> Range<Int> {
        Swift.min(rows, index * split.blockSize)..<Swift.min(rows, (index + 1) * split.blockSize)
    }
}

/// Workspaces kept between calls, so that steady-state predictions allocate nothing.
///
/// A caller takes the smallest free workspace that fits its rows (or makes one) and gives it back after; several
/// concurrent callers each hold their own. At most ``maximumKept`` are kept.
final class WorkspacePool: @unchecked Sendable {
    static let maximumKept = 8
    private let lock = Lock()
    private var free: [Workspace] = []
    private let model: PreparedModel
    private let blas: BLASFunctions

    init(model: PreparedModel, blas: BLASFunctions) {
        self.model = model
        self.blas = blas
        free.reserveCapacity(Self.maximumKept + 1)
    }

    func take(rows: Int) -> Workspace {
        let found: Workspace? = lock.withLock {
            var best: Int?
            for index in free.indices where free[index].capacity >= rows {
                if best.map({ free[index].capacity < free[$0].capacity }) ?? true { best = index }
            }
            return best.map { free.remove(at: $0) }
        }
        return found ?? Workspace(capacity: rows, model: model, blas: blas)
    }

    func giveBack(_ workspace: Workspace) {
        let dropped: Workspace? = lock.withLock {
            free.append(workspace)
            guard free.count > Self.maximumKept else { return nil }
            // Drop the smallest: a larger one serves its callers too.
            var smallest = 0
            for index in free.indices where free[index].capacity < free[smallest].capacity { smallest = index }
            return free.remove(at: smallest)
        }
        _ = dropped // freed outside the lock
    }
}
