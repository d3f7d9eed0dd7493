#if canImport(Accelerate)
import Accelerate
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)` with 32-bit integers (LP64).
package typealias SGEMMFunction = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                         UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void

/// `cblas_sgemv(order, trans, M, N, alpha, A, lda, x, incx, beta, y, incy)`.
typealias SGEMVFunction = @convention(c) (Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                         UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void

/// The single-precision matrix product the engine calls: a run-time loaded CBLAS, Accelerate, or nothing.
///
/// Loaded once per process, lazily, on first use. On Linux the library is opened with `dlopen` rather than linked,
/// because OpenBLAS picks its CPU kernels in a load-time constructor that reads `OPENBLAS_CORETYPE`: setting the
/// variable before a normal link is impossible, and Debian's 0.3.21 mis-detects recent CPUs as "Prescott" (SSE3).
package final class BLASLibrary: @unchecked Sendable {
    /// `nil` when no library could be loaded (the portable kernel is used instead).
    package let sgemm: SGEMMFunction?
    /// The matrix-vector product, for batch 1 on large weights (`sgemm` would copy the whole weight into its packed
    /// form for a single row); `nil` when the library lacks it.
    let sgemv: SGEMVFunction?
    /// What was loaded, for `modelkit --version` and tests.
    let info: BLASInfo

    private init(sgemm: SGEMMFunction?, sgemv: SGEMVFunction?, info: BLASInfo) {
        self.sgemm = sgemm
        self.sgemv = sgemv
        self.info = info
    }

    /// The library of this process.
    package static let shared: BLASLibrary = load()

    /// Library names tried in order. `libblas.so.3` is whatever Debian's alternatives system points at.
    static let candidateNames = ["libopenblas.so.0", "libopenblas.so", "libblas.so.3"]

    /// The thread count: a user's `OPENBLAS_NUM_THREADS` when it is a positive integer, else the processors online.
    static func requestedThreads(environment: String?, processors: Int) -> Int {
        if let environment, let value = Int(environment.trimmingCharacters(" ")), value > 0 { return value }
        return max(1, processors)
    }

    private static func load() -> BLASLibrary {
        let threads = requestedThreads(environment: environmentValue("OPENBLAS_NUM_THREADS"),
                                       processors: CPUFeatures.onlineProcessors)
        #if canImport(Accelerate)
        let accelerate: SGEMMFunction = { order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            cblas_sgemm(CBLAS_ORDER(rawValue: UInt32(order)), CBLAS_TRANSPOSE(rawValue: UInt32(transA)),
                        CBLAS_TRANSPOSE(rawValue: UInt32(transB)), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
        // Accelerate threads internally; the engine's own pool stays at one thread there.
        let accelerateVector: SGEMVFunction = { order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy in
            cblas_sgemv(CBLAS_ORDER(rawValue: UInt32(order)), CBLAS_TRANSPOSE(rawValue: UInt32(trans)), m, n, alpha, a, lda,
                        x, incx, beta, y, incy)
        }
        return BLASLibrary(sgemm: accelerate, sgemv: accelerateVector, info: BLASInfo(backend: .accelerate, threads: 1))
        #else
        return loadShared(threads: threads)
        #endif
    }

    #if !canImport(Accelerate)
    private static func loadShared(threads: Int) -> BLASLibrary {
        // Choose the kernels before the library's constructor runs, unless the user already chose.
        var coreTypeSetting: String?
        var coreTypeWeSet = false
        if let userChoice = environmentValue("OPENBLAS_CORETYPE") {
            coreTypeSetting = "OPENBLAS_CORETYPE=\(userChoice) set by the user"
        } else if let chosen = CPUFeatures.current.openBLASCoreType {
            setenv("OPENBLAS_CORETYPE", chosen, 1)
            coreTypeWeSet = true
            coreTypeSetting = "OPENBLAS_CORETYPE=\(chosen) chosen from CPU features"
        }
        // The engine splits work over its own threads and calls the library single-threaded, so OpenBLAS must not
        // start (and spin) a thread pool of its own: load it with one thread, then restore the user's setting.
        let userThreads = environmentValue("OPENBLAS_NUM_THREADS")
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        defer {
            if let userThreads { setenv("OPENBLAS_NUM_THREADS", userThreads, 1) } else { unsetenv("OPENBLAS_NUM_THREADS") }
            // Child processes should see the environment the user gave, not ours.
            if coreTypeWeSet { unsetenv("OPENBLAS_CORETYPE") }
        }

        var tried: [String] = []
        for name in candidateNames {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
                tried.append(name)
                continue
            }
            guard let sgemmSymbol = dlsym(handle, "cblas_sgemm") else {
                tried.append("\(name) (no cblas_sgemm)")
                dlclose(handle)
                continue
            }
            let sgemm = unsafeBitCast(sgemmSymbol, to: SGEMMFunction.self)
            if let setThreads = dlsym(handle, "openblas_set_num_threads") {
                unsafeBitCast(setThreads, to: (@convention(c) (Int32) -> Void).self)(1)
            }
            let coreName = dlsym(handle, "openblas_get_corename").flatMap { symbol in
                unsafeBitCast(symbol, to: (@convention(c) () -> UnsafePointer<CChar>?).self)().map { String(cString: $0) }
            }
            let configuration = dlsym(handle, "openblas_get_config").flatMap { symbol in
                unsafeBitCast(symbol, to: (@convention(c) () -> UnsafePointer<CChar>?).self)().map { String(cString: $0) }
            }
            let isOpenBLAS = coreName != nil
            var note: String?
            if let coreName, coreName.lowercased() == "prescott", CPUFeatures.current.openBLASCoreType != nil {
                note = "OpenBLAS chose its slow SSE3 kernels on a CPU with AVX2/AVX-512; set OPENBLAS_CORETYPE=\(CPUFeatures.current.openBLASCoreType ?? "HASWELL")"
            } else if !isOpenBLAS {
                note = "\(name) is not OpenBLAS and may be the slow reference BLAS; install libopenblas0-pthread"
            }
            let info = BLASInfo(backend: isOpenBLAS ? .openBLAS : .otherCBLAS, libraryPath: libraryPath(of: sgemmSymbol) ?? name,
                                configuration: configuration?.trimmingCharacters(" "), coreName: coreName,
                                coreTypeSetting: isOpenBLAS ? coreTypeSetting : nil, threads: threads, note: note)
            // The handle is never closed: the library serves the whole process.
            let sgemv = dlsym(handle, "cblas_sgemv").map { unsafeBitCast($0, to: SGEMVFunction.self) }
            return BLASLibrary(sgemm: sgemm, sgemv: sgemv, info: info)
        }
        let note = "no BLAS library could be loaded (tried \(tried.joined(separator: ", "))); using the portable Swift kernel, which is correct but several times slower: install libopenblas0-pthread"
        return BLASLibrary(sgemm: nil, sgemv: nil, info: BLASInfo(backend: .portable, threads: threads, note: note))
    }

    /// The file a loaded symbol comes from, found in `/proc/self/maps` (`dladdr` is not visible to Swift on Glibc).
    private static func libraryPath(of symbol: UnsafeMutableRawPointer) -> String? {
        let address = UInt(bitPattern: symbol)
        guard let maps = readSmallFile("/proc/self/maps", limit: 16 << 20) else { return nil }
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, let dash = fields[0].firstIndex(of: "-"),
                  let start = UInt(fields[0][..<dash], radix: 16),
                  let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16) else { continue }
            if address >= start && address < end { return fields[5...].joined(separator: " ") }
        }
        return nil
    }
    #endif
}

extension String {
    /// The text without leading and trailing `character`s.
    func trimmingCharacters(_ character: Character) -> String {
        var slice = Substring(self)
        while slice.first == character { slice = slice.dropFirst() }
        while slice.last == character { slice = slice.dropLast() }
        return String(slice)
    }
}
