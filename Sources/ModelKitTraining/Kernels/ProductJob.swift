import CModelKitKernels
import ModelKitEngine

/// The float32 training kernels of `CModelKitKernels` (AVX-512 products over unpacked operands, vector optimizer
/// updates), when this CPU runs them.
///
/// Why not BLAS here: at the sizes fine-tuning runs (batch 50, layers of a few hundred), `sgemm`'s call overhead and
/// its per-call packing of operands that change every step cost about as much as the products themselves; these
/// kernels read the stored weight, activations and gradients in place and fuse bias, ReLU and the ReLU backward rule.
enum TrainingKernels {
    /// Whether the kernels run here (AVX-512F); elsewhere training uses the engine's BLAS.
    static let isAvailable = mk_best_level() >= Int32(MK_LEVEL_AVX512.rawValue)
}

/// One matrix product of a training step, or a part of one (a block of rows or columns of `C`).
struct ProductTask {
    enum Kind {
        /// `C = A·B` with `A(i, p) = a[i·aRow + p·aColumn]`, `B` row-major (`mk_train_gemm_broadcast`).
        case broadcast
        /// `C = A·Bᵀ`, both row-major, `lda = aRow` (`mk_train_gemm_dot`).
        case dot
    }

    var kind: Kind
    var m: Int, n: Int, k: Int
    var a: UnsafePointer<Float>
    var aRow: Int, aColumn: Int
    var b: UnsafePointer<Float>
    var ldb: Int
    var c: UnsafeMutablePointer<Float>
    var ldc: Int
    var bias: UnsafePointer<Float>? = nil
    var relu = false
    /// The ReLU output whose positives let the gradient through (`ld` = `ldc`).
    var gate: UnsafePointer<Float>? = nil

    var work: Int { m * n * k }

    func run() {
        switch kind {
        case .broadcast:
            mk_train_gemm_broadcast(Int64(m), Int64(n), Int64(k), a, Int64(aRow), Int64(aColumn), b, Int64(ldb), c,
                                    Int64(ldc), bias, relu ? 1 : 0, gate, Int64(ldc))
        case .dot:
            mk_train_gemm_dot(Int64(m), Int64(n), Int64(k), a, Int64(aRow), b, Int64(ldb), c, Int64(ldc), bias,
                              relu ? 1 : 0, gate, Int64(ldc))
        }
    }

    /// Rows `range` of `C`.
    func rows(_ range: Range<Int>) -> ProductTask {
        var part = self
        part.m = range.count
        part.a = a + range.lowerBound * aRow
        part.c = c + range.lowerBound * ldc
        part.gate = gate.map { $0 + range.lowerBound * ldc }
        return part
    }

    /// Columns `range` of `C`.
    func columns(_ range: Range<Int>) -> ProductTask {
        var part = self
        part.n = range.count
        part.b = kind == .dot ? b + range.lowerBound * ldb : b + range.lowerBound
        part.c = c + range.lowerBound
        part.bias = bias.map { $0 + range.lowerBound }
        part.gate = gate.map { $0 + range.lowerBound }
        return part
    }
}

/// The products of one stage of a step (a layer's forward product, or its ∇W and ∂L/∂X together), cut into parts
/// that the engine's worker threads take in turn.
///
/// Made once per network and reused: the task list keeps its capacity, so a step allocates nothing.
final class ProductJob: ParallelJob, @unchecked Sendable {
    /// A part does at least this many multiply-adds (about 2 µs): below it, handing work to a thread does not pay.
    static let minimumPartWork = 200_000

    private var tasks: [ProductTask] = []

    init() { tasks.reserveCapacity(16) }

    /// Adds `task`, cut into parts of at least ``minimumPartWork`` (at most two per thread, so that a thread that
    /// starts late still finds work). Broadcast products are cut by rows of `C`, dot products by columns (the
    /// weight's rows), in blocks that keep the kernels' tiles whole.
    func append(_ task: ProductTask) {
        guard task.m > 0, task.n > 0 else { return }
        let threads = WorkerPool.shared.width
        let parts = max(1, min(2 * threads, task.work / Self.minimumPartWork))
        let byRows = task.kind == .broadcast ? task.m >= 2 * parts : task.n < 4 * parts
        let extent = byRows ? task.m : task.n
        let grain = task.kind == .dot ? 4 : (byRows ? 1 : 16)
        let units = (extent + grain - 1) / grain
        let count = min(parts, units)
        guard count > 1 else {
            tasks.append(task)
            return
        }
        for index in 0..<count {
            let start = units * index / count * grain, end = min(extent, units * (index + 1) / count * grain)
            guard start < end else { continue }
            tasks.append(byRows ? task.rows(start..<end) : task.columns(start..<end))
        }
    }

    /// Runs every task added since the last run (on the pool when there are several), then forgets them.
    func run() {
        var work = 0
        for task in tasks { work += task.work }
        if tasks.count > 1, work >= 2 * Self.minimumPartWork {
            WorkerPool.shared.run(self, taskCount: tasks.count, threads: WorkerPool.shared.width)
        } else {
            for task in tasks { task.run() }
        }
        tasks.removeAll(keepingCapacity: true)
    }

    func runTask(_ index: Int) { tasks[index].run() }
}
