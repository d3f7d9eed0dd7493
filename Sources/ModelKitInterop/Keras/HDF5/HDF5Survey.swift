/// A walk over every group and dataset of an HDF5 file that cannot loop: hard links can make a group its own
/// descendant, so each group is identified by its object header's address, a group met again on the path from the
/// root is a cycle (an error), and one met again elsewhere (an alias) is not walked twice. Depth and the number of
/// objects are capped (K13).
struct HDF5Survey {
    /// The deepest nesting walked.
    static let maximumDepth = 32
    /// The most objects (groups and datasets) walked.
    static let maximumObjects = 100_000

    /// Every dataset's path (`model_weights/d1/sequential/d1/kernel`), in walk order.
    private(set) var datasets: [String] = []
    private var visited: Set<Int> = []
    private var objectCount = 0

    /// Walks the subtree at `path` (`""` is the whole file).
    init(_ reader: HDF5Reader, from path: String = "") throws(KerasError) {
        guard let start = try reader.group(at: path) else { return }
        var ancestors: [(Int, String)] = []
        try walk(reader, group: start, ancestors: &ancestors)
    }

    private mutating func walk(_ reader: HDF5Reader, group: HDF5Reader.Object, ancestors: inout [(Int, String)]) throws(KerasError) {
        let path = group.path
        if let loop = ancestors.first(where: { $0.0 == group.header }) {
            throw .unsafeHDF5(path: reader.label, object: path.isEmpty ? "/" : path,
                              reason: "the group links back to its ancestor '\(loop.1.isEmpty ? "/" : loop.1)' (a cycle of hard links)")
        }
        guard visited.insert(group.header).inserted else { return }
        guard ancestors.count < Self.maximumDepth else {
            throw .unsafeHDF5(path: reader.label, object: path, reason: "groups nest deeper than \(Self.maximumDepth) levels")
        }
        ancestors.append((group.header, path))
        defer { ancestors.removeLast() }
        let links = try reader.links(of: group)
        for name in try reader.childNames(of: group, path: path.isEmpty ? "/" : path) {
            objectCount += 1
            guard objectCount <= Self.maximumObjects else {
                throw .unsafeHDF5(path: reader.label, object: path, reason: "the file has more than \(Self.maximumObjects) objects")
            }
            let child = HDF5Reader.join(path, name)
            guard case .hard(let address)? = links[name] else {
                throw .unsafeHDF5(path: reader.label, object: child, reason: "it is a soft or external link; Keras writes only hard links")
            }
            switch try reader.kind(ofHeader: address, path: child) {
            case .group:
                try walk(reader, group: HDF5Reader.Object(header: address, path: child), ancestors: &ancestors)
            case .dataset:
                datasets.append(child)
            case .missing, .other, .notHardLink:
                continue  // named datatypes and the like hold no weights
            }
        }
    }
}
