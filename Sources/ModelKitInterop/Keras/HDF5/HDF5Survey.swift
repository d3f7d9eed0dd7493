import CModelKitHDF5

/// A walk over every group and dataset of an HDF5 file that cannot loop: hard links can make a group its own
/// descendant, so each group is identified by its file number and address (token), a group met again on the path
/// from the root is a cycle (an error), and one met again elsewhere (an alias) is not walked twice. Depth and the
/// number of objects are capped (K13).
struct HDF5Survey {
    /// The deepest nesting walked.
    static let maximumDepth = 32
    /// The most objects (groups and datasets) walked.
    static let maximumObjects = 100_000

    /// Every dataset's path (`model_weights/d1/sequential/d1/kernel`), in walk order.
    private(set) var datasets: [String] = []
    private var visited: Set<[UInt8]> = []
    private var objectCount = 0

    /// Walks the subtree at `path` (`""` is the whole file).
    init(_ reader: HDF5Reader, from path: String = "") throws(KerasError) {
        guard let start = try reader.group(at: path) else { return }
        var ancestors: [([UInt8], String)] = []
        try walk(reader, group: start, path: path, ancestors: &ancestors)
    }

    private mutating func walk(_ reader: HDF5Reader, group: HDF5Handle, path: String,
                               ancestors: inout [([UInt8], String)]) throws(KerasError) {
        let identity = try Self.identity(of: group, reader: reader, path: path)
        if let loop = ancestors.first(where: { $0.0 == identity }) {
            throw .unsafeHDF5(path: reader.label, object: path.isEmpty ? "/" : path,
                              reason: "the group links back to its ancestor '\(loop.1.isEmpty ? "/" : loop.1)' (a cycle of hard links)")
        }
        guard visited.insert(identity).inserted else { return }
        guard ancestors.count < Self.maximumDepth else {
            throw .unsafeHDF5(path: reader.label, object: path, reason: "groups nest deeper than \(Self.maximumDepth) levels")
        }
        ancestors.append((identity, path))
        defer { ancestors.removeLast() }
        for name in try reader.childNames(of: group, path: path.isEmpty ? "/" : path) {
            objectCount += 1
            guard objectCount <= Self.maximumObjects else {
                throw .unsafeHDF5(path: reader.label, object: path, reason: "the file has more than \(Self.maximumObjects) objects")
            }
            let child = path.isEmpty ? name : path + "/" + name
            switch reader.kind(of: name, in: group) {
            case .group:
                let handle = try reader.checker.handle(H5Gopen2(group.id, name, modelkit_h5p_default()), .group,
                                                       "open the group", object: child)
                try walk(reader, group: handle, path: child, ancestors: &ancestors)
            case .dataset:
                datasets.append(child)
            case .notHardLink:
                throw .unsafeHDF5(path: reader.label, object: child, reason: "it is a soft or external link; Keras writes only hard links")
            case .missing, .other:
                continue  // named datatypes and the like hold no weights
            }
        }
    }

    private static func identity(of group: HDF5Handle, reader: HDF5Reader, path: String) throws(KerasError) -> [UInt8] {
        var fileNumber: UInt = 0
        var key = [UInt8](repeating: 0, count: 16)
        try reader.checker.check(modelkit_h5o_identity(group.id, &fileNumber, &key), "identify the group", object: path)
        return withUnsafeBytes(of: fileNumber) { Array($0) } + key
    }
}
