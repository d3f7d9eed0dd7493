import ModelKitCore

/// A read-only HDF5 file read by ModelKit itself from bytes in memory: groups, string attributes and float datasets,
/// the part of HDF5 that Keras's `.h5` files and `model.weights.h5` use (Specs/interop/keras.md, K10–K13, K23).
///
/// libhdf5 is not used to read: fuzzing found it hanging and reading through wild pointers on damaged files. Every
/// structure here is bounds-checked and every address checked before it is followed. Only hard links are followed
/// (soft and external links are refused), and a dataset is read only after its shape, type and storage have been
/// checked against what the file can hold. Valid only while the image's bytes are.
final class HDF5Reader {
    /// The largest attribute string (a model config) read, in bytes.
    static let maximumStringBytes = 64 << 20
    /// The most links a group may have.
    static let maximumLinks = 100_000
    /// What reading one file may cost in all, in header messages plus B-tree entries and links parsed. Objects can
    /// share header chunks and groups can share B-trees, so per-object limits alone would let a small forged file
    /// cost billions; a real Keras file spends a few thousand.
    static let maximumWork = 4_000_000

    /// A group or dataset: where its object header is, and its path for messages.
    struct Object {
        let header: Int
        let path: String
    }

    let image: HDF5Image
    var label: String { image.label }
    /// The size of the file image, which bounds what a dataset can hold.
    var byteLength: Int { image.count }
    private var headers: [Int: HDF5ObjectHeader] = [:]
    private var groupLinks: [Int: [String: HDF5Link]] = [:]
    private var collections: [Int: HDF5GlobalHeapCollection] = [:]
    private let workLimit: Int
    private var work: Int

    /// Reads the superblock of the HDF5 file whose bytes are `image`; `workLimit` is ``maximumWork`` but for tests.
    init(image bytes: UnsafeRawBufferPointer, label: String, workLimit: Int = HDF5Reader.maximumWork) throws(KerasError) {
        guard !bytes.isEmpty else { throw .hdf5(path: label, object: "/", reason: "the HDF5 data is empty") }
        image = try HDF5Image(bytes: bytes, label: label)
        self.workLimit = workLimit
        work = workLimit
    }

    /// The object header at `address` (parsed once).
    func header(_ address: Int, path: String) throws(KerasError) -> HDF5ObjectHeader {
        if let cached = headers[address] { return cached }
        let header = try HDF5ObjectHeader(at: address, in: image, object: path.isEmpty ? "/" : path)
        try spend(header.messages.count, object: path.isEmpty ? "/" : path)
        headers[address] = header
        return header
    }

    /// Takes `entries` from the whole file's work budget.
    private func spend(_ entries: Int, object: String) throws(KerasError) {
        work -= entries
        guard work >= 0 else {
            throw .unsafeHDF5(path: label, object: object,
                              reason: "the file's object headers, groups, B-trees and heaps hold more than \(workLimit) entries in all (a forged structure)")
        }
    }

    /// What a link in a group leads to.
    enum ChildKind { case group, dataset, missing, other, notHardLink }

    /// The links of `group` by name; an error when it is not a group.
    func links(of group: Object) throws(KerasError) -> [String: HDF5Link] {
        if let cached = groupLinks[group.header] { return cached }
        let path = group.path.isEmpty ? "/" : group.path
        let header = try header(group.header, path: path)
        guard let links = try HDF5GroupLinks.links(of: header, in: image, object: path, limit: Self.maximumLinks,
                                                   budget: &work) else {
            throw .hdf5(path: label, object: path, reason: "expected a group, found another kind of object")
        }
        groupLinks[group.header] = links
        return links
    }

    /// The kind of the object `name` links to in `group`, without following anything but a hard link.
    func kind(of name: String, in group: Object) throws(KerasError) -> ChildKind {
        switch try links(of: group)[name] {
        case nil: return .missing
        case .soft?, .external?, .other?: return .notHardLink
        case .hard(let address)?: return try kind(ofHeader: address, path: Self.join(group.path, name))
        }
    }

    /// Groups have a symbol table or links; datasets have a data layout; anything else (a named datatype) is other.
    func kind(ofHeader address: Int, path: String) throws(KerasError) -> ChildKind {
        let header = try header(address, path: path)
        let types = Set(header.messages.map(\.type))
        if !types.isDisjoint(with: [HDF5ObjectHeader.MessageType.symbolTable, HDF5ObjectHeader.MessageType.linkInfo,
                                    HDF5ObjectHeader.MessageType.link]) {
            return .group
        }
        return types.contains(HDF5ObjectHeader.MessageType.layout) ? .dataset : .other
    }

    /// The root group.
    func root() throws(KerasError) -> Object {
        let root = Object(header: image.rootHeader, path: "")
        guard try kind(ofHeader: root.header, path: "/") == .group else {
            throw .hdf5(path: label, object: "/", reason: "the root object is not a group")
        }
        return root
    }

    /// The group at `path` (`layers/dense/vars`), followed one hard link at a time; `nil` when a component is missing.
    func group(at path: String) throws(KerasError) -> Object? {
        var current = try root()
        for component in path.split(separator: "/").map(String.init) {
            let walked = Self.join(current.path, component)
            switch try links(of: current)[component] {
            case nil: return nil
            case .soft?, .external?, .other?:
                throw .unsafeHDF5(path: label, object: walked, reason: "it is a soft or external link; Keras writes only hard links")
            case .hard(let address)?:
                guard try kind(ofHeader: address, path: walked) == .group else {
                    throw .hdf5(path: label, object: walked, reason: "expected a group, found another kind of object")
                }
                current = Object(header: address, path: walked)
            }
        }
        return current
    }

    /// The child `name` of `group` as an object (a hard link only).
    func child(_ name: String, of group: Object) throws(KerasError) -> Object? {
        guard case .hard(let address)? = try links(of: group)[name] else { return nil }
        return Object(header: address, path: Self.join(group.path, name))
    }

    /// The names of the links in `group`, in byte order (as libhdf5's name index lists them).
    func childNames(of group: Object, path: String) throws(KerasError) -> [String] {
        try links(of: group).keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    static func join(_ parent: String, _ name: String) -> String { parent.isEmpty ? name : parent + "/" + name }

    // MARK: - Attributes

    /// The string attribute `name` of `object` (a scalar, variable- or fixed-length), or `nil` when absent.
    func stringAttribute(_ name: String, of object: Object, objectPath: String) throws(KerasError) -> String? {
        guard let strings = try stringsAttribute(name, of: object, objectPath: objectPath) else { return nil }
        guard strings.count == 1 else {
            throw .hdf5(path: label, object: objectPath + "@" + name, reason: "expected one string, found \(strings.count)")
        }
        return strings[0]
    }

    /// The strings of attribute `name` (a scalar or a 1-D array; an empty numeric array is an empty list, as h5py
    /// writes it), or `nil` when absent.
    func stringsAttribute(_ name: String, of object: Object, objectPath: String) throws(KerasError) -> [String]? {
        let where_ = objectPath + "@" + name
        let header = try header(object.header, path: objectPath)
        let messages = header.all(HDF5ObjectHeader.MessageType.attribute)
        guard let message = messages.first(where: { HDF5Attribute.name(of: $0, in: image) == name }) else {
            if let info = header.first(HDF5ObjectHeader.MessageType.attributeInfo), try Self.hasDenseAttributes(info, image: image, object: where_) {
                throw .hdf5(path: label, object: where_,
                            reason: "the object keeps its attributes in dense storage (a fractal heap), which ModelKit does not read; h5py writes it only with libver='latest'")
            }
            return nil
        }
        let attribute = try HDF5Attribute(message, in: image, object: where_)
        guard let count = attribute.dataspace.elementCount, count <= Self.maximumLinks else {
            throw .hdf5(path: label, object: where_, reason: "the attribute holds more than \(Self.maximumLinks) values")
        }
        switch attribute.datatype {
        case .fixedString(let size, let spacePadded):
            return try fixedStrings(attribute, count: count, size: size, spacePadded: spacePadded, objectPath: where_)
        case .variableString:
            return try variableStrings(attribute, count: count, objectPath: where_)
        default:
            if count == 0 { return [] }
            throw .hdf5(path: label, object: where_, reason: "expected a string attribute, found \(attribute.datatype.description)")
        }
    }

    private static func hasDenseAttributes(_ info: HDF5ObjectHeader.Message, image: HDF5Image, object: String) throws(KerasError) -> Bool {
        var cursor = try image.cursor(info.data, object: object)
        try cursor.skip(1)
        let flags = try cursor.byte()
        if flags & 0x01 != 0 { try cursor.skip(2) }
        return try cursor.rawAddress() != nil
    }

    private func fixedStrings(_ attribute: HDF5Attribute, count: Int, size: Int, spacePadded: Bool,
                              objectPath: String) throws(KerasError) -> [String] {
        let (total, overflow) = size.multipliedReportingOverflow(by: count)
        guard size > 0, !overflow, total <= Self.maximumStringBytes else {
            throw .unsafeHDF5(path: label, object: objectPath, reason: "\(count) strings of \(size) bytes exceed the limit of \(Self.maximumStringBytes) bytes")
        }
        guard total <= attribute.data.count else {
            throw .hdf5(path: label, object: objectPath, reason: "\(count) strings of \(size) bytes, but the attribute stores \(attribute.data.count) (truncated or damaged)")
        }
        return (0..<count).map { index in
            let start = attribute.data.lowerBound + index * size
            let bytes = image.bytes[start..<(start + size)]
            var text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            if spacePadded { while text.hasSuffix(" ") { text.removeLast() } }
            return text
        }
    }

    /// Variable-length strings: each stored as a reference (length, heap collection address, object index) into
    /// the global heap, read through the checked ``HDF5GlobalHeapCollection``.
    private func variableStrings(_ attribute: HDF5Attribute, count: Int, objectPath: String) throws(KerasError) -> [String] {
        let referenceSize = 8 + image.offsetSize
        let (needed, overflow) = referenceSize.multipliedReportingOverflow(by: count)
        guard !overflow, needed <= attribute.data.count else {
            throw .hdf5(path: label, object: objectPath, reason: "\(count) string references need \(needed) bytes; the attribute stores \(attribute.data.count) (truncated or damaged)")
        }
        var cursor = try image.cursor(attribute.data, object: objectPath)
        var strings: [String] = []
        var total = 0
        for item in 0..<count {
            let length = try cursor.u32()
            let address = try cursor.rawAddress()
            let index = try cursor.u32()
            // Address 0 (or undefined) is a null string and length 0 an empty one, as libhdf5 reads them.
            guard let address, address != 0, length > 0 else { strings.append(""); continue }
            total += length
            guard total <= Self.maximumStringBytes else {
                throw .unsafeHDF5(path: label, object: objectPath, reason: "the strings exceed \(Self.maximumStringBytes) bytes")
            }
            guard let offset = try image.resolve(address, object: objectPath, what: "string \(item)") else { continue }
            let collection: HDF5GlobalHeapCollection
            if let cached = collections[offset] {
                collection = cached
            } else {
                collection = try HDF5GlobalHeapCollection(at: offset, in: image, object: objectPath)
                try spend(collection.steps, object: objectPath)
                collections[offset] = collection
            }
            guard let bytes = collection.objects[index] else {
                throw .unsafeHDF5(path: label, object: objectPath,
                                  reason: "string \(item) refers to object \(index), which the global heap collection at byte \(offset) does not hold")
            }
            guard length <= bytes.count else {
                throw .unsafeHDF5(path: label, object: objectPath,
                                  reason: "string \(item) claims \(length) bytes; its heap object holds \(bytes.count)")
            }
            // As C strings (what libhdf5 hands h5py): a NUL ends the text.
            let text = image.bytes[bytes.lowerBound..<(bytes.lowerBound + length)]
            strings.append(String(decoding: text.prefix { $0 != 0 }, as: UTF8.self))
        }
        return strings
    }

    // MARK: - Datasets

    /// The values of the dataset `name` in `group`, converted to float32, after checking its shape, type and
    /// storage (K10–K12).
    func readFloats(_ name: String, in group: Object, objectPath: String) throws(KerasError) -> (shape: [Int], values: [Float]) {
        switch try kind(of: name, in: group) {
        case .dataset: break
        case .missing: throw .hdf5(path: label, object: objectPath, reason: "no such dataset")
        case .notHardLink: throw .unsafeHDF5(path: label, object: objectPath, reason: "it is a soft or external link; Keras writes only hard links")
        case .group, .other: throw .hdf5(path: label, object: objectPath, reason: "expected a dataset, found another kind of object")
        }
        guard let dataset = try child(name, of: group) else { throw .hdf5(path: label, object: objectPath, reason: "no such dataset") }
        let header = try header(dataset.header, path: objectPath)
        let shape = try datasetShape(header, objectPath: objectPath)
        var elementCount = 1
        for dimension in shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw .unsafeHDF5(path: label, object: objectPath, reason: "its shape \(shape) has more elements than can be counted")
            }
            elementCount = product
        }
        let type = try datasetType(header, objectPath: objectPath)
        guard case .float(let elementSize, let bigEndian, _) = type else {
            throw .unsupportedDType(path: label, object: objectPath, type: type.description)
        }
        let (storedBytes, overflow) = elementCount.multipliedReportingOverflow(by: elementSize)
        guard !overflow, storedBytes <= byteLength else {
            throw .unsafeHDF5(path: label, object: objectPath,
                              reason: "shape \(shape) declares \(overflow ? "more" : String(storedBytes)) bytes, more than the \(byteLength) bytes of the whole file; the file is damaged or hostile")
        }
        let data = try storage(header, declaredBytes: storedBytes, shape: shape, objectPath: objectPath)
        guard elementCount > 0 else { return (shape, []) }
        let values = [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            let source = UnsafeRawBufferPointer(rebasing: image.bytes[data])
            if elementSize == 4 && bigEndian == (UInt32(1).bigEndian == 1) {
                // float32 in this machine's byte order (what Keras writes): one copy.
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            } else {
                for index in 0..<elementCount {
                    buffer[index] = Self.float(source, at: index, size: elementSize, bigEndian: bigEndian)
                }
            }
            initialized = elementCount
        }
        return (shape, values)
    }

    private static func float(_ source: UnsafeRawBufferPointer, at index: Int, size: Int, bigEndian: Bool) -> Float {
        switch size {
        case 2:
            let bits = source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
            return Float(Float16(bitPattern: bigEndian ? bits.byteSwapped : bits))
        case 8:
            let bits = source.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
            return Float(Double(bitPattern: bigEndian ? bits.byteSwapped : bits))
        default:
            let bits = source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
            return Float(bitPattern: bigEndian ? bits.byteSwapped : bits)
        }
    }

    /// The dataset's dimensions: rank at most 8.
    private func datasetShape(_ header: HDF5ObjectHeader, objectPath: String) throws(KerasError) -> [Int] {
        guard let message = header.first(HDF5ObjectHeader.MessageType.dataspace), !message.isShared else {
            throw .hdf5(path: label, object: objectPath, reason: "the dataset has no dataspace message")
        }
        var cursor = try image.cursor(message.data, object: objectPath)
        switch try HDF5Dataspace(&cursor) {
        case .scalar: return []
        case .null: throw .hdf5(path: label, object: objectPath, reason: "the dataset has no data (null dataspace)")
        case .simple(let dimensions):
            guard dimensions.count <= Shape.maximumRank else {
                throw .unsafeHDF5(path: label, object: objectPath, reason: "rank \(dimensions.count) is more than \(Shape.maximumRank)")
            }
            return dimensions
        }
    }

    /// The dataset's type, which must be an IEEE float16, float32 or float64 of either byte order.
    private func datasetType(_ header: HDF5ObjectHeader, objectPath: String) throws(KerasError) -> HDF5Datatype {
        guard let message = header.first(HDF5ObjectHeader.MessageType.datatype) else {
            throw .hdf5(path: label, object: objectPath, reason: "the dataset has no datatype message")
        }
        guard !message.isShared else {
            throw .unsupportedDType(path: label, object: objectPath, type: "a shared (committed) datatype")
        }
        var cursor = try image.cursor(message.data, object: objectPath)
        let type = try HDF5Datatype(&cursor)
        if case .float(let size, _, let ieee) = type, !ieee || ![2, 4, 8].contains(size) {
            throw .unsupportedDType(path: label, object: objectPath, type: type.description + " (not IEEE 754)")
        }
        return type
    }

    /// Where the dataset's bytes are, after refusing storage outside the file (external files, virtual datasets),
    /// chunked storage, and a size that disagrees with the shape.
    private func storage(_ header: HDF5ObjectHeader, declaredBytes: Int, shape: [Int], objectPath: String) throws(KerasError) -> Range<Int> {
        guard header.first(HDF5ObjectHeader.MessageType.externalFiles) == nil else {
            throw .unsafeHDF5(path: label, object: objectPath, reason: "its data lives in an external file")
        }
        guard let message = header.first(HDF5ObjectHeader.MessageType.layout) else {
            throw .hdf5(path: label, object: objectPath, reason: "the dataset has no data layout message")
        }
        var cursor = try image.cursor(message.data, object: objectPath)
        switch try HDF5Layout(&cursor, image: image) {
        case .virtual:
            throw .unsafeHDF5(path: label, object: objectPath, reason: "it is a virtual dataset, which maps other files")
        case .chunked:
            throw .hdf5(path: label, object: objectPath,
                        reason: "the dataset is stored in chunks (compressed or resizable), which ModelKit does not read; Keras writes contiguous datasets")
        case .compact(let range):
            guard range.count == declaredBytes else {
                throw .hdf5(path: label, object: objectPath, reason: "shape \(shape) needs \(declaredBytes) bytes; the dataset stores \(range.count)")
            }
            return range
        case .contiguous(let address, let size):
            if declaredBytes == 0 { return 0..<0 }
            guard let address else {
                throw .hdf5(path: label, object: objectPath, reason: "no data was ever written to the dataset")
            }
            guard size == declaredBytes else {
                throw .hdf5(path: label, object: objectPath, reason: "shape \(shape) needs \(declaredBytes) bytes; the dataset stores \(size)")
            }
            guard size <= byteLength - address else {
                throw .hdf5(path: label, object: objectPath,
                            reason: "its \(size) bytes at byte \(address) run past the end of the \(byteLength)-byte file (truncated)")
            }
            return address..<(address + size)
        }
    }
}
