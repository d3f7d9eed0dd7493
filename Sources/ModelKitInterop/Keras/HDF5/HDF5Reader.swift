import CModelKitHDF5
import ModelKitCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only HDF5 file opened from bytes held in memory, with every identifier, size and type checked.
///
/// Only hard links are followed (soft and external links are refused: an external link would make libhdf5 open
/// another file), and a dataset is read only after its rank, element count, type and storage have been checked
/// against what the file can hold (Specs/interop/keras.md, K10–K13). Use only inside ``HDF5Library/withLock(_:)``.
final class HDF5Reader {
    /// The largest attribute string (a model config) read, in bytes.
    static let maximumStringBytes = 64 << 20
    /// The most links a group may have.
    static let maximumLinks = 100_000
    /// How much a chunked (possibly compressed) dataset may hold relative to the bytes it occupies: deflate cannot
    /// exceed about 1032:1, so a larger ratio is a lie (the same bound as our zlib rule).
    static let maximumExpansion = 1100

    let checker: HDF5Checker
    let file: HDF5Handle
    /// The size of the file image, which bounds what an uncompressed dataset can hold.
    let byteLength: Int
    /// The global heap, walked and checked before libhdf5 opened the file; variable-length strings are read from it.
    let globalHeap: HDF5GlobalHeap?
    var label: String { checker.label }

    /// Opens the HDF5 file whose bytes are `image` (copied by libhdf5's core driver; nothing touches the disk).
    init(image: UnsafeRawBufferPointer, label: String) throws(KerasError) {
        checker = HDF5Checker(label: label)
        byteLength = image.count
        guard let base = image.baseAddress, !image.isEmpty else {
            throw .hdf5(path: label, object: "/", reason: "the HDF5 data is empty")
        }
        do {
            globalHeap = try HDF5GlobalHeap.scan(image)
        } catch {
            throw .unsafeHDF5(path: label, object: "global heap collection at byte \(error.offset)", reason: error.reason)
        }
        let access = try checker.handle(H5Pcreate(modelkit_h5p_file_access()), .propertyList, "create a file access list", object: "/")
        try checker.check(H5Pset_fapl_core(access.id, 1 << 20, false), "select the in-memory driver", object: "/")
        try checker.check(H5Pset_file_image(access.id, UnsafeMutableRawPointer(mutating: base), image.count),
                          "hand the file image to libhdf5", object: "/")
        file = try checker.handle(H5Fopen("modelkit-image.h5", modelkit_h5f_acc_rdonly(), access.id), .file,
                                  "open the HDF5 file", object: "/")
    }

    /// What a link in a group leads to.
    enum ChildKind { case group, dataset, missing, other, notHardLink }

    /// The kind of the object `name` links to in `group`, without opening anything that is not a hard link.
    func kind(of name: String, in group: HDF5Handle) -> ChildKind {
        guard !name.contains("\0") else { return .missing }
        switch modelkit_h5o_kind(group.id, name) {
        case 0: return .group
        case 1: return .dataset
        case -2: return .notHardLink
        case -1: return .missing
        default: return .other
        }
    }

    /// The root group.
    func root() throws(KerasError) -> HDF5Handle {
        try checker.handle(H5Gopen2(file.id, "/", modelkit_h5p_default()), .group, "open the root group", object: "/")
    }

    /// The group at `path` (`layers/dense/vars`), followed one hard link at a time; `nil` when a component is missing.
    func group(at path: String) throws(KerasError) -> HDF5Handle? {
        var current = try root()
        var walked = ""
        for component in path.split(separator: "/").map(String.init) {
            walked += "/" + component
            switch kind(of: component, in: current) {
            case .group:
                current = try checker.handle(H5Gopen2(current.id, component, modelkit_h5p_default()), .group,
                                             "open the group", object: walked)
            case .missing: return nil
            case .notHardLink:
                throw .unsafeHDF5(path: label, object: walked, reason: "it is a soft or external link; Keras writes only hard links")
            case .dataset, .other:
                throw .hdf5(path: label, object: walked, reason: "expected a group, found another kind of object")
            }
        }
        return current
    }

    /// The names of the links in `group`, in name order.
    func childNames(of group: HDF5Handle, path: String) throws(KerasError) -> [String] {
        var info = H5G_info_t()
        try checker.check(H5Gget_info(group.id, &info), "list the group", object: path)
        guard info.nlinks <= UInt64(Self.maximumLinks) else {
            throw .unsafeHDF5(path: label, object: path, reason: "the group has \(info.nlinks) links, more than the limit of \(Self.maximumLinks)")
        }
        var names: [String] = []
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(group.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, modelkit_h5p_default())
            guard length >= 0, length < 65_536 else { throw checker.failure("read the name of link #\(index)", object: path) }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            let read = H5Lget_name_by_idx(group.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, modelkit_h5p_default())
            guard read >= 0 else { throw checker.failure("read the name of link #\(index)", object: path) }
            names.append(String(decoding: buffer.prefix(Int(read)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    // MARK: - Attributes

    /// The string attribute `name` of `object` (a scalar, variable- or fixed-length), or `nil` when absent.
    func stringAttribute(_ name: String, of object: HDF5Handle, objectPath: String) throws(KerasError) -> String? {
        guard let strings = try stringsAttribute(name, of: object, objectPath: objectPath) else { return nil }
        guard strings.count == 1 else {
            throw .hdf5(path: label, object: objectPath + "@" + name, reason: "expected one string, found \(strings.count)")
        }
        return strings[0]
    }

    /// The strings of attribute `name` (a scalar or a 1-D array; an empty numeric array is an empty list, as h5py
    /// writes it), or `nil` when absent.
    func stringsAttribute(_ name: String, of object: HDF5Handle, objectPath: String) throws(KerasError) -> [String]? {
        let where_ = objectPath + "@" + name
        let exists = H5Aexists(object.id, name)
        guard exists >= 0 else { throw checker.failure("look up the attribute", object: where_) }
        guard exists > 0 else { return nil }
        let attribute = try checker.handle(H5Aopen(object.id, name, modelkit_h5p_default()), .attribute, "open the attribute", object: where_)
        let type = try checker.handle(H5Aget_type(attribute.id), .datatype, "read the attribute's type", object: where_)
        let space = try checker.handle(H5Aget_space(attribute.id), .dataspace, "read the attribute's shape", object: where_)
        let points = H5Sget_simple_extent_npoints(space.id)
        guard points >= 0, points <= Int64(Self.maximumLinks) else {
            throw .hdf5(path: label, object: where_, reason: "the attribute holds \(points) values")
        }
        let count = Int(points)
        guard H5Tget_class(type.id) == H5T_STRING else {
            if count == 0 { return [] }
            throw .hdf5(path: label, object: where_, reason: "expected a string attribute")
        }
        if count == 0 { return [] }
        if H5Tis_variable_str(type.id) > 0 {
            return try variableLengthStrings(attribute, count: count, objectPath: where_)
        }
        let size = H5Tget_size(type.id)
        let (total, overflow) = size.multipliedReportingOverflow(by: count)
        guard size > 0, !overflow, total <= Self.maximumStringBytes, total <= byteLength else {
            throw .unsafeHDF5(path: label, object: where_, reason: "\(count) strings of \(size) bytes exceed the file or the limit of \(Self.maximumStringBytes) bytes")
        }
        var buffer = [UInt8](repeating: 0, count: total)
        try checker.check(H5Aread(attribute.id, type.id, &buffer), "read the attribute", object: where_)
        return (0..<count).map { index in
            let bytes = buffer[(index * size)..<((index + 1) * size)]
            let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
            var text = String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
            while text.hasSuffix(" ") { text.removeLast() }  // H5T_STR_SPACEPAD
            return text
        }
    }

    /// The `count` variable-length strings of `attribute`: libhdf5 hands over the stored references (sequence
    /// length, heap address, object index; `HDF5Library.rawVariableLengthReads`) and the bytes come from the checked
    /// ``globalHeap``, so a forged reference is refused instead of followed (K23).
    private func variableLengthStrings(_ attribute: HDF5Handle, count: Int, objectPath: String) throws(KerasError) -> [String] {
        guard HDF5Library.rawVariableLengthReads else {
            throw checker.failure("set up the reading of variable-length strings", object: objectPath)
        }
        guard let heap = globalHeap else {
            throw .hdf5(path: label, object: objectPath, reason: "the file has no superblock ModelKit can read")
        }
        let referenceSize = 8 + heap.offsetSize
        let stored = H5Aget_storage_size(attribute.id)
        guard stored == UInt64(referenceSize * count) else {
            throw .hdf5(path: label, object: objectPath,
                        reason: "\(count) variable-length strings should store \(referenceSize * count) bytes of references, not \(stored)")
        }
        let raw = try checker.handle(modelkit_raw_vlen_type(referenceSize), .datatype, "make a reference type", object: objectPath)
        var references = [UInt8](repeating: 0, count: referenceSize * count)
        try checker.check(H5Aread(attribute.id, raw.id, &references), "read the attribute", object: objectPath)
        var strings: [String] = []
        var total = 0
        for item in 0..<count {
            let start = item * referenceSize
            let fields = references.withUnsafeBytes { bytes in
                (length: HDF5GlobalHeap.length(in: bytes, at: start, byteCount: 4),
                 address: HDF5GlobalHeap.length(in: bytes, at: start + 4, byteCount: heap.offsetSize),
                 index: HDF5GlobalHeap.length(in: bytes, at: start + 4 + heap.offsetSize, byteCount: 4))
            }
            guard let length = fields.length, let address = fields.address, let index = fields.index else {
                throw .unsafeHDF5(path: label, object: objectPath, reason: "string \(item) refers to an address past any file")
            }
            // Address 0 is a null string, length 0 an empty one: libhdf5 reads neither from the heap.
            if address == 0 || length == 0 { strings.append(""); continue }
            total += length
            guard total <= Self.maximumStringBytes else {
                throw .unsafeHDF5(path: label, object: objectPath, reason: "the strings exceed \(Self.maximumStringBytes) bytes")
            }
            let object: [UInt8]
            do {
                object = try heap.object(address: address, index: index)
            } catch {
                throw .unsafeHDF5(path: label, object: objectPath, reason: "string \(item): " + error.reason)
            }
            guard length <= object.count else {
                throw .unsafeHDF5(path: label, object: objectPath,
                                  reason: "string \(item) claims \(length) bytes; its heap object holds \(object.count)")
            }
            // As C strings (libhdf5's conversion to `char *`): a NUL ends the text.
            let text = object.prefix(length)
            strings.append(String(decoding: text.prefix { $0 != 0 }, as: UTF8.self))
        }
        return strings
    }

    // MARK: - Datasets

    /// The values of the dataset `name` in `group`, converted by libhdf5 to native float32, after checking its
    /// shape, type and storage (K10–K12).
    func readFloats(_ name: String, in group: HDF5Handle, objectPath: String) throws(KerasError) -> (shape: [Int], values: [Float]) {
        switch kind(of: name, in: group) {
        case .dataset: break
        case .missing: throw .hdf5(path: label, object: objectPath, reason: "no such dataset")
        case .notHardLink: throw .unsafeHDF5(path: label, object: objectPath, reason: "it is a soft or external link; Keras writes only hard links")
        case .group, .other: throw .hdf5(path: label, object: objectPath, reason: "expected a dataset, found another kind of object")
        }
        let dataset = try checker.handle(H5Dopen2(group.id, name, modelkit_h5p_default()), .dataset, "open the dataset", object: objectPath)
        let shape = try datasetShape(dataset, objectPath: objectPath)
        var elementCount = 1
        for dimension in shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw .unsafeHDF5(path: label, object: objectPath, reason: "its shape \(shape) has more elements than can be counted")
            }
            elementCount = product
        }
        let elementSize = try checkFloatType(dataset, objectPath: objectPath)
        let (storedBytes, overflow) = elementCount.multipliedReportingOverflow(by: elementSize)
        guard !overflow else {
            throw .unsafeHDF5(path: label, object: objectPath, reason: "its shape \(shape) needs more bytes than can be counted")
        }
        try checkStorage(dataset, declaredBytes: storedBytes, shape: shape, objectPath: objectPath)
        guard elementCount > 0 else { return (shape, []) }
        var status: herr_t = -1
        let values = [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            status = H5Dread(dataset.id, modelkit_h5t_native_float(), modelkit_h5s_all(), modelkit_h5s_all(),
                             modelkit_h5p_default(), buffer.baseAddress)
            initialized = elementCount  // plain floats: on failure the array is discarded below
        }
        try checker.check(status, "read the dataset", object: objectPath)
        return (shape, values)
    }

    /// The dataset's dimensions: rank at most 8, each representable as `Int`.
    private func datasetShape(_ dataset: HDF5Handle, objectPath: String) throws(KerasError) -> [Int] {
        let space = try checker.handle(H5Dget_space(dataset.id), .dataspace, "read the dataset's shape", object: objectPath)
        switch H5Sget_simple_extent_type(space.id) {
        case H5S_SCALAR: return []
        case H5S_SIMPLE: break
        default: throw .hdf5(path: label, object: objectPath, reason: "the dataset has no data (null dataspace)")
        }
        let rank = H5Sget_simple_extent_ndims(space.id)
        guard rank >= 0 else { throw checker.failure("read the dataset's rank", object: objectPath) }
        guard rank <= Shape.maximumRank else {
            throw .unsafeHDF5(path: label, object: objectPath, reason: "rank \(rank) is more than \(Shape.maximumRank)")
        }
        var dimensions = [hsize_t](repeating: 0, count: Int(rank))
        guard H5Sget_simple_extent_dims(space.id, &dimensions, nil) == rank else {
            throw checker.failure("read the dataset's dimensions", object: objectPath)
        }
        guard dimensions.allSatisfy({ $0 <= UInt64(Int.max) }) else {
            throw .unsafeHDF5(path: label, object: objectPath, reason: "a dimension of \(dimensions) is too large")
        }
        return dimensions.map { Int($0) }
    }

    /// The dataset's element size after checking that it is an IEEE float16, float32 or float64 of either order.
    private func checkFloatType(_ dataset: HDF5Handle, objectPath: String) throws(KerasError) -> Int {
        let type = try checker.handle(H5Dget_type(dataset.id), .datatype, "read the dataset's type", object: objectPath)
        let typeClass = H5Tget_class(type.id)
        let size = H5Tget_size(type.id)
        let order = H5Tget_order(type.id)
        let orderName = order == H5T_ORDER_LE ? "little-endian" : order == H5T_ORDER_BE ? "big-endian" : "unordered"
        let description = "\(Self.className(typeClass)) of \(size) bytes, \(orderName)"
        guard typeClass == H5T_FLOAT, order == H5T_ORDER_LE || order == H5T_ORDER_BE else {
            throw .unsupportedDType(path: label, object: objectPath, type: description)
        }
        let isIEEE: Bool
        switch size {
        case 4: isIEEE = H5Tequal(type.id, modelkit_h5t_ieee_f32le()) > 0 || H5Tequal(type.id, modelkit_h5t_ieee_f32be()) > 0
        case 8: isIEEE = H5Tequal(type.id, modelkit_h5t_ieee_f64le()) > 0 || H5Tequal(type.id, modelkit_h5t_ieee_f64be()) > 0
        case 2:
            var signPosition = 0, exponentPosition = 0, exponentSize = 0, mantissaPosition = 0, mantissaSize = 0
            let fields = H5Tget_fields(type.id, &signPosition, &exponentPosition, &exponentSize, &mantissaPosition, &mantissaSize)
            isIEEE = fields >= 0 && (signPosition, exponentPosition, exponentSize, mantissaPosition, mantissaSize) == (15, 10, 5, 0, 10)
                && H5Tget_ebias(type.id) == 15
        default: isIEEE = false
        }
        guard isIEEE else { throw .unsupportedDType(path: label, object: objectPath, type: description + " (not IEEE 754)") }
        return size
    }

    /// Refuses storage that lives outside the file (external files, virtual datasets) and declared sizes the
    /// stored bytes cannot hold.
    private func checkStorage(_ dataset: HDF5Handle, declaredBytes: Int, shape: [Int], objectPath: String) throws(KerasError) {
        let properties = try checker.handle(H5Dget_create_plist(dataset.id), .propertyList, "read the dataset's storage", object: objectPath)
        let layout = H5Pget_layout(properties.id)
        guard layout != H5D_VIRTUAL else {
            throw .unsafeHDF5(path: label, object: objectPath, reason: "it is a virtual dataset, which maps other files")
        }
        guard H5Pget_external_count(properties.id) == 0 else {
            throw .unsafeHDF5(path: label, object: objectPath, reason: "its data lives in an external file")
        }
        let limit: Int
        let why: String
        if layout == H5D_CHUNKED {
            let stored = Int(clamping: H5Dget_storage_size(dataset.id))
            limit = stored.multipliedReportingOverflow(by: Self.maximumExpansion).overflow ? Int.max : stored * Self.maximumExpansion
            why = "\(Self.maximumExpansion)× the \(stored) bytes its chunks occupy"
        } else {
            limit = byteLength
            why = "the \(byteLength) bytes of the whole file"
        }
        guard declaredBytes <= limit else {
            throw .unsafeHDF5(path: label, object: objectPath,
                              reason: "shape \(shape) declares \(declaredBytes) bytes, more than \(why); the file is damaged or hostile")
        }
    }

    private static func className(_ typeClass: H5T_class_t) -> String {
        switch typeClass {
        case H5T_INTEGER: "integer"
        case H5T_FLOAT: "float"
        case H5T_STRING: "string"
        case H5T_COMPOUND: "compound"
        case H5T_OPAQUE: "opaque"
        case H5T_ENUM: "enum"
        case H5T_ARRAY: "array"
        case H5T_VLEN: "variable-length"
        case H5T_REFERENCE: "reference"
        case H5T_BITFIELD: "bitfield"
        default: "unknown class"
        }
    }
}
