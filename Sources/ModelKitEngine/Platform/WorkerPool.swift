#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if os(Linux)
import Synchronization
#endif

/// Work the pool can split: `runTask(_:)` is called once for every index in `0..<taskCount`, from any thread.
package protocol ParallelJob: AnyObject {
    func runTask(_ index: Int)
}

/// A process-wide set of threads that share the work of one matrix product at a time.
///
/// Why our own pool rather than OpenBLAS's threads: a batch-1 forward pass of a small network takes a few
/// microseconds, so threads must already be awake (spinning) when work arrives, the split must follow the layer's
/// shape, and bias plus activation must run on each thread's own output block while it is still in cache. OpenBLAS
/// is therefore called single-threaded, on each part.
///
/// One job runs at a time; a caller that finds the pool busy (another task is predicting) runs its job alone,
/// which is what several concurrent callers want anyway. Idle threads spin for a short while, then sleep.
package final class WorkerPool: @unchecked Sendable {
    /// Threads that work on a job, counting the caller.
    package let width: Int

    #if os(Linux)
    /// `epoch << 32 | taskCount << 16 | nextTask`: claiming a task is one compare-and-swap, and a thread still
    /// holding an old epoch can never claim a task of a newer job.
    private let state = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let inUse = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    /// Written only by the caller that holds `inUse`, before it publishes a new epoch.
    private var job: (any ParallelJob)?
    private var epoch: UInt64 = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// How long an idle worker spins before it sleeps.
    private static let spinNanoseconds: UInt64 = 200_000
    #endif

    /// The pool of this process, as wide as the BLAS thread setting.
    package static let shared = WorkerPool(width: BLASLibrary.shared.info.threads)

    /// The most tasks one job may have.
    static let maximumTasks = 0xFFFF

    init(width requested: Int) {
        #if os(Linux)
        width = max(1, requested)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        for _ in 1..<width { startWorker() }
        #else
        width = 1
        #endif
    }

    /// Runs `job` for tasks `0..<taskCount`, using the pool when it is free and at most `threads` threads.
    /// Returns when every task has finished.
    package func run(_ job: any ParallelJob, taskCount: Int, threads: Int) {
        precondition(taskCount >= 0 && taskCount <= Self.maximumTasks, "task count out of range")
        #if os(Linux)
        if taskCount > 1, threads > 1, width > 1, inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            runShared(job, taskCount: taskCount)
            inUse.store(false, ordering: .releasing)
            return
        }
        #endif
        for index in 0..<taskCount { job.runTask(index) }
    }

    #if os(Linux)
    private func runShared(_ job: any ParallelJob, taskCount: Int) {
        self.job = job
        epoch = epoch == 0xFFFF_FFFF ? 1 : epoch + 1
        let myEpoch = epoch
        finished.store(0, ordering: .relaxed)
        // Sequentially consistent with the sleepers check below: a worker either sees this epoch or is counted.
        state.store(myEpoch << 32 | UInt64(taskCount) << 16, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        while let index = claim(epoch: myEpoch) {
            job.runTask(index)
            finished.add(1, ordering: .releasing)
        }
        while finished.load(ordering: .acquiring) < taskCount {}
        // Keep the reference: dropping it here would cost a release in the hot path; the next job replaces it.
    }

    /// The next task index of `epoch`, or `nil` when that job has no unclaimed task (or is over).
    @inline(__always)
    private func claim(epoch: UInt64) -> Int? {
        var current = state.load(ordering: .acquiring)
        while true {
            let count = (current >> 16) & 0xFFFF, next = current & 0xFFFF
            guard current >> 32 == epoch, next < count else { return nil }
            let (exchanged, original) = state.compareExchange(expected: current, desired: current + 1,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return Int(next) }
            current = original
        }
    }

    private func startWorker() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<WorkerPool>.fromOpaque(argument).takeRetainedValue().workerLoop()
        }, context)
        if created == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<WorkerPool>.fromOpaque(context).release()
        }
    }

    private func workerLoop() -> Never {
        var seen: UInt64 = 0
        while true {
            let epoch = waitForNewEpoch(after: seen)
            seen = epoch
            while let index = claim(epoch: epoch) {
                // Read only after a successful claim: the caller then waits for this task, so `job` cannot change.
                job?.runTask(index)
                finished.add(1, ordering: .releasing)
            }
        }
    }

    /// Spins until the epoch changes from `seen`, then sleeps if nothing arrives for a while.
    private func waitForNewEpoch(after seen: UInt64) -> UInt64 {
        var start: UInt64 = 0
        var spins = 0
        while true {
            let current = state.load(ordering: .acquiring) >> 32
            if current != seen { return current }
            spins += 1
            if spins & 1023 == 0 {
                let now = monotonicNanoseconds()
                if start == 0 {
                    start = now
                } else if now - start > Self.spinNanoseconds {
                    break
                }
            }
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        sleepers.add(1, ordering: .sequentiallyConsistent)
        defer { sleepers.subtract(1, ordering: .sequentiallyConsistent) }
        while true {
            let current = state.load(ordering: .sequentiallyConsistent) >> 32
            if current != seen { return current }
            pthread_cond_wait(condition, mutex)
        }
    }
    #endif
}

/// A monotonic clock in nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
