/// Which matrix-multiply library the engine uses, and how it was set up.
///
/// `modelkit --version` prints it, because the kernel choice alone can change speed sevenfold:
///
/// ```swift
/// print(InferenceSession.blas)
/// // OpenBLAS 0.3.21, SkylakeX kernels (OPENBLAS_CORETYPE=SKYLAKEX set from CPU features), 2 threads:
/// //   /usr/lib/x86_64-linux-gnu/libopenblas.so.0
/// ```
public struct BLASInfo: Sendable, Equatable, CustomStringConvertible {
    /// The kind of library doing the matrix products.
    public enum Backend: String, Sendable, Equatable {
        /// OpenBLAS, loaded at run time with `dlopen`.
        case openBLAS = "OpenBLAS"
        /// Apple's Accelerate framework.
        case accelerate = "Accelerate"
        /// Another CBLAS library (for example the reference `libblas.so.3`).
        case otherCBLAS = "CBLAS"
        /// No BLAS could be loaded: ModelKit's own portable Swift kernel (correct, slower).
        case portable = "portable Swift kernel"
    }

    /// The kind of library.
    public var backend: Backend
    /// The shared library file, when one was loaded.
    public var libraryPath: String?
    /// The library's own version text, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64`.
    public var configuration: String?
    /// The CPU kernel family OpenBLAS selected, e.g. `SkylakeX`, `Haswell` or `Prescott`.
    public var coreName: String?
    /// The `OPENBLAS_CORETYPE` in effect when the library loaded, and who chose it.
    public var coreTypeSetting: String?
    /// The threads the engine splits large products over (from `OPENBLAS_NUM_THREADS`, else the processor count).
    public var threads: Int
    /// Why a fallback was taken, or what the user should know; `nil` when all is as intended.
    public var note: String?

    /// Creates a description of a BLAS setup.
    public init(backend: Backend, libraryPath: String? = nil, configuration: String? = nil, coreName: String? = nil,
                coreTypeSetting: String? = nil, threads: Int, note: String? = nil) {
        self.backend = backend
        self.libraryPath = libraryPath
        self.configuration = configuration
        self.coreName = coreName
        self.coreTypeSetting = coreTypeSetting
        self.threads = threads
        self.note = note
    }

    /// One line, e.g. `OpenBLAS (SkylakeX kernels, 2 threads) /usr/lib/x86_64-linux-gnu/libopenblas.so.0`.
    public var description: String {
        var details: [String] = []
        if let coreName { details.append("\(coreName) kernels") }
        if let coreTypeSetting { details.append(coreTypeSetting) }
        details.append(threads == 1 ? "1 thread" : "\(threads) threads")
        var text = backend.rawValue + " (" + details.joined(separator: ", ") + ")"
        if let libraryPath { text += " " + libraryPath }
        if let note { text += "; note: " + note }
        return text
    }
}
