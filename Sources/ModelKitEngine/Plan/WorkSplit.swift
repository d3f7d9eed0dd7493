/// How one matrix product (and its epilogue) is cut into tasks for the worker pool.
struct WorkSplit: Equatable {
    /// Whether tasks own blocks of rows (whole rows, so row-wise operations can run in the same task) or blocks of
    /// columns (all rows).
    var byRows: Bool
    var taskCount: Int
    /// Rows or columns per task (the last task may have fewer).
    var blockSize: Int

    /// Products smaller than this many multiply-adds run on the calling thread: waking a second core costs about as
    /// much as computing ~50k multiply-adds.
    static let minimumParallelWork = 48_000
    /// Column blocks under BLAS start at multiples of 4 columns: that keeps the halves of a 200- or 100-column layer
    /// equal (16 would give 112 + 88 and 64 + 36), which matters more than the few cache lines two threads share at
    /// a block boundary.
    static let blasColumnAlignment = 4

    /// The column alignment of the kernel that multiplies `rows` rows by `dense`: a packed kernel's panels must not
    /// be cut.
    static func columnAlignment(for dense: DenseWeights, rows: Int) -> Int {
        if dense.panels != nil && rows >= PackedKernel.minimumRows { return PackedKernel.panelWidth }
        return dense.packed != nil ? PortableGEMM.panelWidth : blasColumnAlignment
    }

    /// The split for `rows × columns` outputs each needing `depth` multiply-adds, over `threads` threads, with
    /// column blocks starting at multiples of `alignment`.
    ///
    /// Under BLAS, rows are split when there are at least as many rows as columns (each task then reads the whole
    /// weight, which BLAS packs once per task); otherwise columns (each task reads its own slice of the weight — the
    /// batch-1 and small-batch case, where the weight is what costs). Under the packed kernel (16-column panels,
    /// weights packed once), the split with the smaller largest task wins, counting whole panels: 50 rows × 13
    /// panels go 25 + 25 rows (13 × 25) rather than 7 + 6 panels (7 × 50); ties go to columns.
    static func make(rows: Int, columns: Int, depth: Int, threads: Int, alignment: Int) -> WorkSplit {
        let work = rows.multipliedReportingOverflow(by: columns).partialValue
            .multipliedReportingOverflow(by: Swift.max(depth, 1)).partialValue
        guard threads > 1, work >= minimumParallelWork, rows > 0, columns > 0 else {
            return WorkSplit(byRows: true, taskCount: rows > 0 ? 1 : 0, blockSize: Swift.max(rows, 1))
        }
        let tasks = Swift.min(threads, WorkerPool.maximumTasks)
        let rowBlock = (rows + tasks - 1) / tasks
        let byRows: Bool
        if alignment == PackedKernel.panelWidth {
            let panels = (columns + alignment - 1) / alignment
            let panelBlock = (panels + tasks - 1) / tasks
            byRows = panels < 2 || panels * rowBlock < panelBlock * rows
        } else {
            byRows = rows >= columns || columns < 2 * alignment
        }
        if byRows {
            return WorkSplit(byRows: true, taskCount: (rows + rowBlock - 1) / rowBlock, blockSize: rowBlock)
        }
        var block = (columns + tasks - 1) / tasks
        block = (block + alignment - 1) / alignment * alignment
        return WorkSplit(byRows: false, taskCount: (columns + block - 1) / block, blockSize: block)
    }

    /// A split of `rows` whole rows of `width` values for row-wise work.
    static func rowsOnly(rows: Int, width: Int, threads: Int) -> WorkSplit {
        guard rows > 0 else { return WorkSplit(byRows: true, taskCount: 0, blockSize: 1) }
        let tasks = threads > 1 && rows * Swift.max(width, 1) >= 8_192 ? Swift.min(threads, rows, WorkerPool.maximumTasks) : 1
        let block = (rows + tasks - 1) / tasks
        return WorkSplit(byRows: true, taskCount: (rows + block - 1) / block, blockSize: block)
    }
}
