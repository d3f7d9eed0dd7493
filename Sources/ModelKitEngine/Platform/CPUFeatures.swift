#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What the processor can do, as far as choosing a BLAS kernel is concerned.
struct CPUFeatures: Sendable, Equatable {
    /// The feature flags, as Linux names them in `/proc/cpuinfo` (`avx2`, `fma`, `avx512f`, ...).
    var flags: Set<String>

    /// The OpenBLAS core type whose kernels this CPU runs best, or `nil` to let OpenBLAS decide.
    ///
    /// Why: OpenBLAS 0.3.21 (Debian 12) does not recognise newer CPU models and falls back to its SSE3 "Prescott"
    /// kernels, 6–7× slower than the AVX-512 ones (see the machine notes). The choice depends only on instruction
    /// sets, which every kernel named here checks for itself.
    var openBLASCoreType: String? {
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SKYLAKEX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "HASWELL" }
        return nil
    }

    /// Parses the first `flags` line of `/proc/cpuinfo` text.
    init(cpuinfo text: String) {
        var found: Set<String> = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingSpaces == "flags" else { continue }
            found = Set(parts[1].split(separator: " ").map(String.init))
            break
        }
        flags = found
    }

    init(flags: Set<String>) { self.flags = flags }

    /// The features of the processor running this code (empty when they cannot be read).
    static let current: CPUFeatures = {
        #if os(Linux)
        return CPUFeatures(cpuinfo: readSmallFile("/proc/cpuinfo", limit: 1 << 20) ?? "")
        #else
        return CPUFeatures(flags: [])
        #endif
    }()

    /// The number of processors online, at least 1.
    static var onlineProcessors: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}

/// Reads at most `limit` bytes of a (small, procfs-like) text file; `nil` when it cannot be opened.
func readSmallFile(_ path: String, limit: Int) -> String? {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < limit {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes.prefix(limit), as: UTF8.self)
}

/// An environment variable, or `nil` when unset or empty.
func environmentValue(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}
