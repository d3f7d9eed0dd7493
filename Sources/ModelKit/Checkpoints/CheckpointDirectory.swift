#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory of rolling checkpoints `checkpoint-<global step, 9 digits>.mkit` (Specs/checkpoint.md K8–K12).
///
/// ```swift
/// let directory = try CheckpointDirectory("ckpt", keep: 3, compression: .fast)
/// try trainer.train(data) { _ in
///     if trainer.state.globalStep % 500 == 0 { try? directory.save(Checkpoint(trainer: trainer)) }
///     return true
/// }
/// let resumed = try CheckpointDirectory.resume(from: "ckpt") // newest that passes its checksums
/// for warning in resumed.warnings { print(warning) }
/// ```
public struct CheckpointDirectory: Sendable {
    /// One checkpoint file of the directory.
    public struct Entry: Sendable, Equatable {
        /// The global step in the file name.
        public var step: Int
        /// The file's path (the directory's path + `/` + ``CheckpointDirectory/fileName(step:)``).
        public var path: String
    }

    /// The directory.
    public let path: String
    /// How many checkpoints ``save(_:step:)`` keeps (the newest ones); at least 1.
    public var keep: Int
    /// How tensors are stored.
    public var compression: CheckpointCompression

    /// Opens (and creates, with missing parents) the directory at `path`.
    ///
    /// - Throws: ``CheckpointError`` `.invalidRequest` when `keep < 1` or the directory cannot be created.
    public init(_ path: String, keep: Int = 3, compression: CheckpointCompression = .fast) throws(CheckpointError) {
        guard keep >= 1 else { throw CheckpointError(.invalidRequest, "--keep \(keep) must be at least 1", path: path) }
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        self.keep = keep
        self.compression = compression
        try Self.makeDirectories(self.path)
    }

    /// The file name of the checkpoint at global step `step`, zero-padded so names sort by step.
    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "checkpoint-" + String(repeating: "0", count: max(0, 9 - digits.count)) + digits + ".mkit"
    }

    /// The checkpoint files, newest (highest step) first. Other files are ignored.
    public func entries() throws(CheckpointError) -> [Entry] {
        try Self.names(in: path).compactMap { name in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".mkit") else { return nil }
            let digits = name.dropFirst("checkpoint-".count).dropLast(".mkit".count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let step = Int(digits), step >= 0 else { return nil }
            return Entry(step: step, path: path + "/" + name)
        }.sorted { $0.step > $1.step }
    }

    /// Writes `checkpoint` as `checkpoint-<step>.mkit` atomically, then deletes all but the newest ``keep``
    /// checkpoints and temporary files that killed writers left behind (K8–K10).
    ///
    /// - Parameter step: The step in the name; by default the checkpoint's global step.
    /// - Returns: The path written.
    /// - Throws: ``CheckpointError`` `.writeFailed` (full disk, file-size limit); the existing checkpoints are then
    ///   untouched and no partial file is left under a checkpoint name.
    @discardableResult
    public func save(_ checkpoint: Checkpoint, step: Int? = nil) throws(CheckpointError) -> String {
        let step = step ?? checkpoint.trainingState.globalStep
        let target = path + "/" + Self.fileName(step: step)
        do {
            try checkpoint.write(to: target, compression: compression)
        } catch {
            guard error.kind == .writeFailed else { throw error }
            let previous = (try? entries().first(where: { $0.step != step }))?.map { " (the newest intact one is \($0.path))" } ?? ""
            throw CheckpointError(.writeFailed, "\(error.message); previous checkpoints are intact\(previous)", path: target)
        }
        try prune()
        return target
    }

    /// The newest checkpoint that reads and passes every checksum; damaged newer ones are skipped with a warning
    /// naming the file and the failure (K11).
    ///
    /// - Throws: ``CheckpointError`` `.noValidCheckpoint` when there is none, listing why each was refused.
    public func newestValid() throws(CheckpointError) -> ResumePoint {
        var skipped: [ResumePoint.Skipped] = []
        for entry in try entries() {
            do {
                return ResumePoint(checkpoint: try Checkpoint.read(from: entry.path), path: entry.path, skipped: skipped)
            } catch {
                skipped.append(ResumePoint.Skipped(path: entry.path, reason: error.message))
            }
        }
        let reasons = skipped.isEmpty ? "it holds no checkpoint-*.mkit files"
            : skipped.map { "\(Self.baseName($0.path)): \($0.reason)" }.joined(separator: "; ")
        throw CheckpointError(.noValidCheckpoint, "no checkpoint to resume from: \(reasons)", path: path)
    }

    /// Reads the checkpoint file at `path`, verifying its checksums (K5).
    public static func load(_ path: String) throws(CheckpointError) -> Checkpoint {
        try Checkpoint.read(from: path)
    }

    /// `--resume DIR|FILE`: the newest valid checkpoint of a directory, or the given file.
    public static func resume(from path: String) throws(CheckpointError) -> ResumePoint {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw CheckpointError(.invalidRequest, "cannot resume: \(String(cString: strerror(errno)))", path: path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            var directory = try CheckpointDirectory(path)
            directory.keep = 1
            return try directory.newestValid()
        }
        return ResumePoint(checkpoint: try Checkpoint.read(from: path), path: path, skipped: [])
    }

    // MARK: Pruning

    private func prune() throws(CheckpointError) {
        for entry in try entries().dropFirst(keep) { unlink(entry.path) }
        for name in try Self.names(in: path) where Self.isAbandonedTemporary(name) { unlink(path + "/" + name) }
    }

    /// A temporary file of ``AtomicFileWriter`` (`.checkpoint-….mkit.tmp-<pid>-<random>`) whose writer process is
    /// gone (killed mid-write). Files of live processes, this one included, are left alone.
    static func isAbandonedTemporary(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1].hasPrefix("checkpoint-"), parts[2] == "mkit",
              parts[3].hasPrefix("tmp-") else { return false }
        let digits = parts[3].dropFirst("tmp-".count).prefix { $0 != "-" }
        guard let pid = Int32(digits), pid > 0, pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    // MARK: File system

    private static func names(in directory: String) throws(CheckpointError) -> [String] {
        guard let handle = opendir(directory) else {
            throw CheckpointError(.invalidRequest, "cannot list the checkpoint directory: \(String(cString: strerror(errno)))", path: directory)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    private static func makeDirectories(_ path: String) throws(CheckpointError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw CheckpointError(.invalidRequest, "cannot create the checkpoint directory: \(String(cString: strerror(errno)))", path: prefix)
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CheckpointError(.invalidRequest, "the checkpoint directory path exists but is not a directory", path: path)
        }
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

/// Where a resumed run continues from: the checkpoint, its file, and the newer files that were refused.
public struct ResumePoint: Sendable {
    /// A checkpoint file that was refused, and why (names the tensor for a checksum failure).
    public struct Skipped: Sendable, Equatable {
        /// The refused file.
        public var path: String
        /// Why it was refused (the checksum failure names the tensor).
        public var reason: String
    }

    /// The checkpoint to continue from.
    public var checkpoint: Checkpoint
    /// The file read.
    public var path: String
    /// Newer checkpoints that failed, newest first.
    public var skipped: [Skipped]

    /// One warning per refused file, for the user: which file is damaged, why, and which one is used instead.
    public var warnings: [String] {
        skipped.map { "warning: skipping damaged checkpoint \($0.path): \($0.reason); resuming from \(path)" }
    }
}
