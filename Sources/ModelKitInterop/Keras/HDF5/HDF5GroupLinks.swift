/// The links of an HDF5 group, from either storage h5py writes: a symbol table (version 1 B-tree of `SNOD` nodes with
/// names in a local heap: the default) or link messages in the group's header (the "new style", compact only).
enum HDF5GroupLinks {
    /// The deepest B-tree walked (a real one of 100,000 links is 3 or 4 levels deep).
    static let maximumTreeDepth = 32
    /// The longest link name read.
    static let maximumNameBytes = 65_535

    /// The links of the group whose header is `header`, by name; `nil` when the object is not a group.
    /// `budget` is what the whole file may still spend on B-tree entries and links (``HDF5Reader/maximumWork``);
    /// this group's walk takes its share from it.
    static func links(of header: HDF5ObjectHeader, in image: HDF5Image, object: String,
                      limit: Int, budget: inout Int) throws(KerasError) -> [String: HDF5Link]? {
        if let table = header.first(HDF5ObjectHeader.MessageType.symbolTable) {
            var cursor = try image.cursor(table.data, object: object)
            let tree = try image.resolve(try cursor.rawAddress(), object: object, what: "the group's B-tree")
            let heap = try image.resolve(try cursor.rawAddress(), object: object, what: "the group's name heap")
            guard let tree, let heap else {
                throw .hdf5(path: image.label, object: object, reason: "the group's symbol table has no B-tree or name heap")
            }
            var links: [String: HDF5Link] = [:]
            let names = try LocalHeap(at: heap, in: image, object: object)
            let share = min(4 * limit, budget)
            var walk = Walk(budget: share)
            defer { budget -= share - walk.budget }
            try walkTree(at: tree, depth: 0, names: names, image: image, object: object, limit: limit,
                         walk: &walk, into: &links)
            return links
        }
        let linkMessages = header.all(HDF5ObjectHeader.MessageType.link)
        budget -= linkMessages.count
        guard budget >= 0 else {
            throw .unsafeHDF5(path: image.label, object: object, reason: "the file's groups hold more links than it could (a forged structure)")
        }
        guard let info = header.first(HDF5ObjectHeader.MessageType.linkInfo) else {
            return linkMessages.isEmpty ? nil : try compactLinks(linkMessages, image: image, object: object, limit: limit)
        }
        var cursor = try image.cursor(info.data, object: object)
        try cursor.skip(1)  // version
        let flags = try cursor.byte()
        if flags & 0x01 != 0 { try cursor.skip(8) }  // maximum creation index
        if try cursor.rawAddress() != nil {
            throw .hdf5(path: image.label, object: object,
                        reason: "the group keeps its links in dense storage (a fractal heap), which ModelKit does not read; h5py writes it only with libver='latest' and many links")
        }
        return try compactLinks(linkMessages, image: image, object: object, limit: limit)
    }

    private static func compactLinks(_ messages: [HDF5ObjectHeader.Message], image: HDF5Image, object: String,
                                     limit: Int) throws(KerasError) -> [String: HDF5Link] {
        guard messages.count <= limit else {
            throw .unsafeHDF5(path: image.label, object: object, reason: "the group has \(messages.count) links, more than the limit of \(limit)")
        }
        var links: [String: HDF5Link] = [:]
        for message in messages {
            var cursor = try image.cursor(message.data, object: object)
            let version = try cursor.byte()
            guard version == 1 else { throw .hdf5(path: image.label, object: object, reason: "link message version \(version) (expected 1)") }
            let flags = try cursor.byte()
            let type = flags & 0x08 != 0 ? Int(try cursor.byte()) : 0
            if flags & 0x04 != 0 { try cursor.skip(8) }  // creation order
            if flags & 0x10 != 0 { try cursor.skip(1) }  // name character set
            let nameLength = try cursor.unsigned(1 << Int(flags & 0x03))
            guard nameLength > 0, nameLength <= UInt64(maximumNameBytes) else {
                throw .hdf5(path: image.label, object: object, reason: "a link name of \(nameLength) bytes")
            }
            let name = String(decoding: image.bytes[try cursor.take(Int(nameLength))], as: UTF8.self)
            switch type {
            case 0:
                guard let target = try image.resolve(try cursor.rawAddress(), object: object + "/" + name, what: "the link") else {
                    throw .hdf5(path: image.label, object: object + "/" + name, reason: "a hard link with no address")
                }
                links[name] = .hard(target)
            case 1: links[name] = .soft
            case 64: links[name] = .external
            default: links[name] = .other(type)
            }
        }
        return links
    }

    /// What a B-tree walk has seen: nodes (a node met twice is a loop) and a budget of entries, so a forged tree
    /// cannot make the walk read the same bytes over and over.
    struct Walk {
        var visited: Set<Int> = []
        var budget: Int

        mutating func spend(_ entries: Int, image: HDF5Image, object: String) throws(KerasError) {
            budget -= entries
            guard budget >= 0 else {
                throw .unsafeHDF5(path: image.label, object: object,
                                  reason: "the group's B-tree has more entries than its links (or the file) allow (a forged structure)")
            }
        }
    }

    /// A group B-tree node (`TREE`, type 0): children are nodes one level down, or `SNOD` symbol nodes at level 0.
    private static func walkTree(at address: Int, depth: Int, names: LocalHeap, image: HDF5Image, object: String,
                                 limit: Int, walk: inout Walk, into links: inout [String: HDF5Link]) throws(KerasError) {
        guard depth < maximumTreeDepth else {
            throw .unsafeHDF5(path: image.label, object: object, reason: "the group's B-tree is deeper than \(maximumTreeDepth) levels")
        }
        guard walk.visited.insert(address).inserted else {
            throw .unsafeHDF5(path: image.label, object: object, reason: "the group's B-tree reaches node \(address) twice (a loop)")
        }
        var cursor = try image.cursor(at: address, object: object)
        try cursor.expect("TREE", what: "group B-tree node")
        let type = try cursor.byte()
        guard type == 0 else { throw .hdf5(path: image.label, object: object, reason: "B-tree node type \(type) where a group's (0) belongs") }
        let level = Int(try cursor.byte())
        let entries = try cursor.u16()
        try walk.spend(entries + 1, image: image, object: object)
        try cursor.skip(2 * image.offsetSize)  // siblings
        var children: [Int] = []
        try cursor.skip(image.lengthSize)  // key 0
        for _ in 0..<entries {
            guard let child = try image.resolve(try cursor.rawAddress(), object: object, what: "a B-tree child") else {
                throw .hdf5(path: image.label, object: object, reason: "a B-tree child with no address")
            }
            children.append(child)
            try cursor.skip(image.lengthSize)  // the key after it
        }
        for child in children {
            if level > 0 {
                try walkTree(at: child, depth: depth + 1, names: names, image: image, object: object, limit: limit,
                             walk: &walk, into: &links)
            } else {
                try readSymbols(at: child, names: names, image: image, object: object, limit: limit, walk: &walk, into: &links)
            }
        }
    }

    /// A symbol table node (`SNOD`): entries of name offset, object header address, cache type and scratch pad.
    private static func readSymbols(at address: Int, names: LocalHeap, image: HDF5Image, object: String, limit: Int,
                                    walk: inout Walk, into links: inout [String: HDF5Link]) throws(KerasError) {
        guard walk.visited.insert(address).inserted else {
            throw .unsafeHDF5(path: image.label, object: object, reason: "the group's B-tree reaches symbol node \(address) twice (a loop)")
        }
        var cursor = try image.cursor(at: address, object: object)
        try cursor.expect("SNOD", what: "symbol table node")
        try cursor.skip(2)  // version, reserved
        let count = try cursor.u16()
        try walk.spend(count + 1, image: image, object: object)
        for _ in 0..<count {
            let nameOffset = try cursor.length()
            let target = try cursor.rawAddress()
            let cacheType = try cursor.u32()
            try cursor.skip(4 + 16)  // reserved, scratch pad
            let name = try names.string(at: nameOffset, object: object)
            guard links.count < limit else {
                throw .unsafeHDF5(path: image.label, object: object, reason: "the group has more than \(limit) links")
            }
            if cacheType == 2 {
                links[name] = .soft
            } else if let resolved = try image.resolve(target, object: object + "/" + name, what: "the link") {
                links[name] = .hard(resolved)
            } else {
                throw .hdf5(path: image.label, object: object + "/" + name, reason: "a hard link with no address")
            }
        }
    }

    /// A local heap (`HEAP`): the NUL-terminated names of a symbol table group.
    struct LocalHeap {
        let image: HDF5Image
        let data: Range<Int>

        init(at address: Int, in image: HDF5Image, object: String) throws(KerasError) {
            self.image = image
            var cursor = try image.cursor(at: address, object: object)
            try cursor.expect("HEAP", what: "local heap")
            try cursor.skip(4)  // version, reserved
            let size = try cursor.length()
            _ = try cursor.length()  // free list
            guard let start = try image.resolve(try cursor.rawAddress(), object: object, what: "the name heap's data"),
                  size <= image.count - start else {
                throw .hdf5(path: image.label, object: object, reason: "the group's name heap lies past the end of the file (truncated or damaged)")
            }
            data = start..<(start + size)
        }

        func string(at offset: Int, object: String) throws(KerasError) -> String {
            guard offset < data.count else {
                throw .hdf5(path: image.label, object: object, reason: "a link name at offset \(offset) of a \(data.count)-byte name heap")
            }
            let start = data.lowerBound + offset
            let window = image.bytes[start..<min(data.upperBound, start + maximumNameBytes + 1)]
            guard let end = window.firstIndex(of: 0) else {
                throw .hdf5(path: image.label, object: object, reason: "a link name at offset \(offset) has no end")
            }
            return String(decoding: image.bytes[start..<end], as: UTF8.self)
        }
    }
}
