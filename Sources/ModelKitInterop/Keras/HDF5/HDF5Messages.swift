/// An HDF5 datatype message, as far as Keras files need it.
enum HDF5Datatype: Equatable {
    case integer(size: Int, bigEndian: Bool)
    /// `ieee`: the field layout of IEEE 754 binary16, binary32 or binary64 for the size.
    case float(size: Int, bigEndian: Bool, ieee: Bool)
    /// Fixed-length strings; `spacePadded` strings lose trailing spaces.
    case fixedString(size: Int, spacePadded: Bool)
    case variableString
    case other(className: String, size: Int)

    static let classNames = ["integer", "float", "time", "string", "bitfield", "opaque", "compound", "reference",
                             "enum", "variable-length", "array"]

    /// How it is described in errors: `integer of 4 bytes, little-endian`.
    var description: String {
        switch self {
        case .integer(let size, let bigEndian): "integer of \(size) bytes, \(bigEndian ? "big" : "little")-endian"
        case .float(let size, let bigEndian, _): "float of \(size) bytes, \(bigEndian ? "big" : "little")-endian"
        case .fixedString(let size, _): "string of \(size) bytes"
        case .variableString: "variable-length string"
        case .other(let className, let size): "\(className) of \(size) bytes"
        }
    }

    init(_ cursor: inout HDF5Cursor) throws(KerasError) {
        let classAndVersion = try cursor.byte()
        let bits0 = try cursor.byte()
        let bits1 = try cursor.byte()
        _ = try cursor.byte()
        let size = try cursor.u32()
        let typeClass = Int(classAndVersion & 0x0F)
        switch typeClass {
        case 0:
            self = .integer(size: size, bigEndian: bits0 & 0x01 != 0)
        case 1:
            // Byte order: bit 0, with bit 6 set for VAX order (neither little nor big).
            let vax = bits0 & 0x40 != 0
            let bigEndian = bits0 & 0x01 != 0
            let bitOffset = try cursor.u16()
            let precision = try cursor.u16()
            let exponentLocation = Int(try cursor.byte())
            let exponentSize = Int(try cursor.byte())
            let mantissaLocation = Int(try cursor.byte())
            let mantissaSize = Int(try cursor.byte())
            let bias = try cursor.u32()
            let fields = [bitOffset, precision, Int(bits1), exponentLocation, exponentSize, mantissaLocation, mantissaSize, bias]
            let ieee: [Int: [Int]] = [2: [0, 16, 15, 10, 5, 0, 10, 15],
                                      4: [0, 32, 31, 23, 8, 0, 23, 127],
                                      8: [0, 64, 63, 52, 11, 0, 52, 1023]]
            if vax {
                self = .other(className: "VAX-ordered float", size: size)
            } else {
                self = .float(size: size, bigEndian: bigEndian, ieee: ieee[size] == fields)
            }
        case 3:
            self = .fixedString(size: size, spacePadded: bits0 & 0x0F == 2)
        case 9:
            self = bits0 & 0x0F == 1 ? .variableString : .other(className: "variable-length sequence", size: size)
        default:
            self = .other(className: typeClass < Self.classNames.count ? Self.classNames[typeClass] : "class \(typeClass)", size: size)
        }
    }
}

/// An HDF5 dataspace message: how many elements, in what shape.
enum HDF5Dataspace: Equatable {
    case scalar
    case simple([Int])
    /// No elements at all.
    case null

    /// The most dimensions HDF5 allows.
    static let maximumRank = 32

    var elementCount: Int? {
        switch self {
        case .scalar: return 1
        case .null: return 0
        case .simple(let dimensions):
            var count = 1
            for dimension in dimensions {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                if overflow { return nil }
                count = product
            }
            return count
        }
    }

    init(_ cursor: inout HDF5Cursor) throws(KerasError) {
        let version = try cursor.byte()
        let rank = Int(try cursor.byte())
        let flags = try cursor.byte()
        var kind = rank == 0 ? 0 : 1
        switch version {
        case 1: try cursor.skip(5)
        case 2: kind = Int(try cursor.byte())
        default: throw .hdf5(path: cursor.label, object: cursor.object, reason: "dataspace message version \(version) (expected 1 or 2)")
        }
        guard rank <= Self.maximumRank else {
            throw .unsafeHDF5(path: cursor.label, object: cursor.object, reason: "a dataspace of rank \(rank), more than HDF5's \(Self.maximumRank)")
        }
        var dimensions: [Int] = []
        for _ in 0..<rank { dimensions.append(try cursor.length()) }
        _ = flags  // maximum dimensions may follow; they do not change what is stored
        switch kind {
        case 0: self = .scalar
        case 1: self = .simple(dimensions)
        case 2: self = .null
        default: throw .hdf5(path: cursor.label, object: cursor.object, reason: "dataspace type \(kind) (expected scalar, simple or null)")
        }
    }
}

/// Where a dataset's elements are stored.
enum HDF5Layout: Equatable {
    /// In the header itself.
    case compact(Range<Int>)
    /// In one run of bytes; `address` is `nil` when nothing was ever written.
    case contiguous(address: Int?, size: Int)
    /// In chunks (possibly compressed), which ModelKit does not read: Keras writes contiguous datasets.
    case chunked
    case virtual

    init(_ cursor: inout HDF5Cursor, image: HDF5Image) throws(KerasError) {
        let version = try cursor.byte()
        switch version {
        case 3, 4:
            let layoutClass = try cursor.byte()
            switch layoutClass {
            case 0:
                let size = try cursor.u16()
                self = .compact(try cursor.take(size))
            case 1:
                let address = try image.resolve(try cursor.rawAddress(), object: cursor.object, what: "the dataset's data")
                self = .contiguous(address: address, size: try cursor.length())
            case 2: self = .chunked
            case 3: self = .virtual
            default: throw .hdf5(path: cursor.label, object: cursor.object, reason: "data layout class \(layoutClass)")
            }
        case 1, 2:
            // Rank (plus one: the last dimension is the element size), class, five reserved bytes, the address
            // (not for compact storage), the dimensions as 4-byte numbers.
            let rank = Int(try cursor.byte())
            let layoutClass = try cursor.byte()
            try cursor.skip(5)
            let address = layoutClass == 0 ? nil : try cursor.rawAddress()
            var size = 1
            for _ in 0..<rank {
                let (product, overflow) = size.multipliedReportingOverflow(by: try cursor.u32())
                guard !overflow else { throw .unsafeHDF5(path: cursor.label, object: cursor.object, reason: "a data layout too large to count") }
                size = product
            }
            switch layoutClass {
            case 0: self = .compact(try cursor.take(try cursor.u32()))
            case 1: self = .contiguous(address: try image.resolve(address, object: cursor.object, what: "the dataset's data"), size: size)
            default: self = .chunked
            }
        default:
            throw .hdf5(path: cursor.label, object: cursor.object, reason: "data layout message version \(version) (expected 1 to 4)")
        }
    }
}

/// An HDF5 attribute message: name, type, shape and where its stored values lie.
struct HDF5Attribute {
    let name: String
    let datatype: HDF5Datatype
    let dataspace: HDF5Dataspace
    let data: Range<Int>

    /// Decodes only the name; `nil` when the message is not readable (`decode` then says why).
    static func name(of message: HDF5ObjectHeader.Message, in image: HDF5Image) -> String? {
        guard var cursor = try? image.cursor(message.data, object: ""),
              let version = try? cursor.byte(), (1...3).contains(version),
              (try? cursor.byte()) != nil, let nameSize = try? cursor.u16() else { return nil }
        guard (try? cursor.skip(4 + (version == 3 ? 1 : 0))) != nil, nameSize > 0, nameSize <= cursor.remaining else { return nil }
        let bytes = image.bytes[cursor.offset..<(cursor.offset + nameSize)]
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    init(_ message: HDF5ObjectHeader.Message, in image: HDF5Image, object: String) throws(KerasError) {
        var cursor = try image.cursor(message.data, object: object)
        let version = try cursor.byte()
        guard (1...3).contains(version) else {
            throw .hdf5(path: image.label, object: object, reason: "attribute message version \(version) (expected 1 to 3)")
        }
        let flags = try cursor.byte()
        guard flags & 0x03 == 0 else {
            throw .hdf5(path: image.label, object: object, reason: "the attribute's type or shape is shared (committed), which ModelKit does not follow")
        }
        let nameSize = try cursor.u16()
        let typeSize = try cursor.u16()
        let spaceSize = try cursor.u16()
        if version == 3 { try cursor.skip(1) }  // name encoding
        // Version 1 pads each part to 8 bytes.
        let padded = { (size: Int) in version == 1 ? (size + 7) / 8 * 8 : size }
        let nameRange = try cursor.take(padded(nameSize))
        name = String(decoding: image.bytes[nameRange].prefix(nameSize).prefix { $0 != 0 }, as: UTF8.self)
        var typeCursor = try image.cursor(try cursor.take(padded(typeSize)), object: object)
        datatype = try HDF5Datatype(&typeCursor)
        var spaceCursor = try image.cursor(try cursor.take(padded(spaceSize)), object: object)
        dataspace = try HDF5Dataspace(&spaceCursor)
        data = cursor.offset..<cursor.range.upperBound
    }
}

/// Where a link in a group leads.
enum HDF5Link: Equatable {
    /// An object header, as an offset into the file.
    case hard(Int)
    /// A soft link (a path) or an external link (another file): never followed.
    case soft
    case external
    case other(Int)
}
