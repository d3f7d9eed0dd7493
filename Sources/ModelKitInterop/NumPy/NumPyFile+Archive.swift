import Foundation
import ModelKitCore
import ModelKitFormat
import ZIPFoundation

/// `.npz` archives: a zip of `<name>.npy` members, stored (`np.savez`) or deflated (`np.savez_compressed`).
extension NumPyFile {
    /// Reads every array of the `.npz` archive at `path`, in archive order.
    ///
    /// Stored members are viewed inside the memory-mapped archive; deflated members are inflated into memory (never
    /// onto disk), each bounded by `limits` and checked against its declared size and CRC-32.
    ///
    /// - Parameters:
    ///   - path: The archive.
    ///   - limits: Bounds on member count and inflated sizes (defaults suit any real archive).
    /// - Returns: Each array's name (the member name without `.npy`) and tensor.
    /// - Throws: ``NumPyError`` for an unreadable or unsafe archive, a member that is not `.npy`, or any error
    ///   reading a member (naming it as `path[member.npy]`).
    public static func readArchive(path: String, limits: ZipArchive.Limits = ZipArchive.Limits()) throws(NumPyError)
        -> [(name: String, tensor: Tensor)] {
        let archive = try openArchive(path, limits: limits)
        var arrays: [(name: String, tensor: Tensor)] = []
        for member in archive.members {
            let name = try arrayName(of: member, in: archive)
            arrays.append((name, try readMember(member, of: archive)))
        }
        return arrays
    }

    /// The names of the arrays in the `.npz` archive at `path`, in archive order, without reading any data.
    ///
    /// - Throws: ``NumPyError``.
    public static func archiveArrayNames(path: String) throws(NumPyError) -> [String] {
        let archive = try openArchive(path, limits: ZipArchive.Limits())
        var names: [String] = []
        for member in archive.members { names.append(try arrayName(of: member, in: archive)) }
        return names
    }

    /// Reads one array of the `.npz` archive at `path` (only that member is extracted).
    ///
    /// - Parameters:
    ///   - name: The array's name, as `np.load(path)[name]` would take it (`"weights"` for `weights.npy`).
    /// - Throws: ``NumPyError/arrayNotFound(source:name:available:)`` listing the names when there is none.
    public static func readArchiveArray(path: String, named name: String,
                                        limits: ZipArchive.Limits = ZipArchive.Limits()) throws(NumPyError) -> Tensor {
        let archive = try openArchive(path, limits: limits)
        guard let member = archive.member(named: name + ".npy") else {
            var names: [String] = []
            for member in archive.members { names.append(try arrayName(of: member, in: archive)) }
            throw .arrayNotFound(source: path, name: name, available: names)
        }
        return try readMember(member, of: archive)
    }

    /// Writes `arrays` to `path` as a `.npz` archive that `np.load` reads, atomically.
    ///
    /// Members are named `<name>.npy` in the given order, stored like `np.savez` or deflated like
    /// `np.savez_compressed`. Member timestamps are fixed so the same arrays always give the same bytes.
    ///
    /// - Parameters:
    ///   - arrays: Names (no `..`, no leading `/`, no backslashes, unique) and tensors.
    ///   - compressed: Deflate the members (`true`) or store them (`false`).
    /// - Throws: ``NumPyError/invalidArrayName(name:reason:)``, ``NumPyError/unsupportedDTypeForWriting(_:)``, or
    ///   ``NumPyError/fileAccess(_:)``.
    public static func writeArchive(_ arrays: [(name: String, tensor: Tensor)], to path: String,
                                    compressed: Bool = false) throws(NumPyError) {
        var seen = Set<String>()
        for (name, _) in arrays {
            if name.isEmpty { throw .invalidArrayName(name: name, reason: "the name is empty") }
            if let reason = ZipMemberName.problem(with: name + ".npy") { throw .invalidArrayName(name: name, reason: reason) }
            guard seen.insert(name).inserted else { throw .invalidArrayName(name: name, reason: "the name is used twice") }
        }
        let data: Data
        do {
            data = try ZipArchiveWriter.archive(members: try arrays.map { (name, tensor) throws(NumPyError) in
                ZipArchiveWriter.Member(name: name + ".npy", prefix: try header(for: tensor), body: tensor)
            }, compressed: compressed)
        } catch let error as NumPyError {
            throw error
        } catch {
            throw .fileAccess(FileAccessError(path: path, operation: "build the zip archive", reason: "\(error)"))
        }
        try atomicWrite(to: path) { sink in
            try data.withUnsafeBytes { raw in try sink.write(raw) }
        }
    }

    private static func openArchive(_ path: String, limits: ZipArchive.Limits) throws(NumPyError) -> ZipArchive {
        do { return try ZipArchive.open(path, limits: limits) } catch { throw .archive(error) }
    }

    private static func arrayName(of member: ZipArchive.Member, in archive: ZipArchive) throws(NumPyError) -> String {
        guard member.name.hasSuffix(".npy"), !member.isDirectory, member.name.count > 4 else {
            throw .notAnArrayMember(source: archive.path, member: member.name)
        }
        return String(member.name.dropLast(4))
    }

    private static func readMember(_ member: ZipArchive.Member, of archive: ZipArchive) throws(NumPyError) -> Tensor {
        let contents: ZipMemberContents
        do { contents = try archive.contents(of: member) } catch { throw .archive(error) }
        return try readArray(storage: contents.storage, range: contents.range, source: "\(archive.path)[\(member.name)]")
    }
}
