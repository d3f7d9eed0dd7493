import ModelKitEngine

/// Float32 `C = alpha · op(A) · op(B) + beta · C` on the engine's BLAS, cut into blocks of rows or columns of `C`
/// that the engine's worker threads compute at the same time.
///
/// Why not OpenBLAS's own threads: the engine loads OpenBLAS single-threaded and owns the (spinning) worker pool, so
/// that small products do not pay for waking threads; training reuses that pool rather than start a second one.
enum ParallelGEMM {
    /// Products below this many multiply-adds run on the calling thread (waking a core costs about that much).
    static let minimumParallelWork = 64_000

    private static let rowMajor: Int32 = 101, noTranspose: Int32 = 111, transpose: Int32 = 112

    static func multiply(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                         a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                         c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        guard let sgemm = BLASLibrary.shared.sgemm, k > 0 else {
            ReferenceGEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let pool = WorkerPool.shared
        let work = m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k).partialValue
        let threads = pool.width
        if threads < 2 || work < minimumParallelWork || (m < 8 && n < 32) {
            call(sgemm, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        // Split the longer side of C; column blocks stay multiples of 16 floats (whole cache lines).
        let byRows = m >= n
        let extent = byRows ? m : n
        let alignment = byRows ? 1 : 16
        var block = (extent + threads - 1) / threads
        block = (block + alignment - 1) / alignment * alignment
        let tasks = (extent + block - 1) / block
        let job = BlockJob(byRows: byRows, block: block, extent: extent) { start, count in
            if byRows {
                let aBlock = transposeA ? a + start : a + start * lda
                call(sgemm, transposeA, transposeB, count, n, k, alpha, aBlock, lda, b, ldb, beta, c + start * ldc, ldc)
            } else {
                let bBlock = transposeB ? b + start * ldb : b + start
                call(sgemm, transposeA, transposeB, m, count, k, alpha, a, lda, bBlock, ldb, beta, c + start, ldc)
            }
        }
        pool.run(job, taskCount: tasks, threads: threads)
    }

    @inline(__always)
    private static func call(_ sgemm: SGEMMFunction, _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int,
                             _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                             _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>,
                             _ ldc: Int) {
        sgemm(rowMajor, transposeA ? transpose : noTranspose, transposeB ? transpose : noTranspose,
              Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    private final class BlockJob: ParallelJob, @unchecked Sendable {
        let block: Int
        let extent: Int
        let body: (Int, Int) -> Void

        init(byRows: Bool, block: Int, extent: Int, body: @escaping (Int, Int) -> Void) {
            self.block = block
            self.extent = extent
            self.body = body
        }

        func runTask(_ index: Int) {
            let start = index * block
            let count = min(block, extent - start)
            if count > 0 { body(start, count) }
        }
    }
}
