import ModelKitCore
import ModelKitFormat

/// The prefix of a `.npy` file: magic, version, header length and the header dictionary.
///
/// Layout (numpy.lib.format): `\x93NUMPY`, major and minor version bytes, the header length (u16 little-endian in
/// version 1.0, u32 in 2.0 and 3.0), then the header: a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a final `\n` so the data
/// starts at a multiple of 64. Version 3.0 allows UTF-8 in the header; 1.0 and 2.0 are Latin-1.
struct NumPyHeader {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// NumPy aligns the start of the data to this many bytes.
    static let alignment = 64
    /// NumPy leaves room after the header so the first axis can grow in place (`GROWTH_AXIS_MAX_DIGITS`).
    static let growthAxisDigits = 21

    let descr: NumPyDescr
    let shape: Shape
    let fortranOrder: Bool
    /// Where the array data begins, relative to the start of the `.npy` bytes.
    let dataOffset: Int
    let version: (major: UInt8, minor: UInt8)

    /// Reads and checks the header at the start of `bytes`.
    static func read(_ bytes: UnsafeRawBufferPointer, source: String, maximumLength: Int) throws(NumPyError) -> NumPyHeader {
        let prefix = Array(bytes.prefix(magic.count))
        guard prefix == Array(magic.prefix(prefix.count)), !bytes.isEmpty else {
            throw .notNumPy(source: source, detected: FileSniffer.detect(bytes).rawValue)
        }
        guard bytes.count >= 8 else { throw .truncatedHeader(source: source, needed: 8, available: bytes.count) }
        let major = bytes[6], minor = bytes[7]
        let lengthSize: Int
        switch (major, minor) {
        case (1, 0): lengthSize = 2
        case (2, 0), (3, 0): lengthSize = 4
        default: throw .unsupportedVersion(source: source, major: major, minor: minor)
        }
        guard bytes.count >= 8 + lengthSize else {
            throw .truncatedHeader(source: source, needed: 8 + lengthSize, available: bytes.count)
        }
        let length = lengthSize == 2
            ? Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self).littleEndian)
            : Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
        let dataOffset = 8 + lengthSize + length
        guard dataOffset <= bytes.count else {
            throw .truncatedHeader(source: source, needed: dataOffset, available: bytes.count)
        }
        guard length <= maximumLength else {
            throw .headerTooLarge(source: source, length: length, limit: maximumLength)
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[(8 + lengthSize)..<dataOffset])
        let text: String
        if major == 3 {
            guard let decoded = String(validating: raw, as: UTF8.self) else {
                throw .malformedHeader(source: source, reason: "a version 3.0 header must be UTF-8")
            }
            text = decoded
        } else {
            // Latin-1: every byte is the code point of the same value.
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: raw.map { Unicode.Scalar($0) })
            text = String(scalars)
        }
        let fields = try HeaderFields(text: text, source: source)
        return NumPyHeader(descr: fields.descr, shape: fields.shape, fortranOrder: fields.fortranOrder,
                           dataOffset: dataOffset, version: (major, minor))
    }

    /// The bytes NumPy's `np.save` writes before the data of a C-order, little-endian array of `shape`: the same
    /// dictionary text, growth padding and alignment, in version 1.0 unless the header needs 2.0.
    static func encode(descr: String, shape: Shape) -> [UInt8] {
        let dims = shape.dimensions.map(String.init)
        let shapeText = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var dictionary = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        if let first = dims.first { dictionary += String(repeating: " ", count: max(0, growthAxisDigits - first.count)) }
        let body = Array(dictionary.utf8)
        for (major, lengthSize) in [(UInt8(1), 2), (UInt8(2), 4)] {
            let unpadded = body.count + 1
            let padding = alignment - (magic.count + 2 + lengthSize + unpadded) % alignment
            let length = unpadded + padding
            if lengthSize == 2 && length > Int(UInt16.max) { continue }
            var output = magic + [major, 0]
            for index in 0..<lengthSize { output.append(UInt8(truncatingIfNeeded: length >> (8 * index))) }
            output += body
            output += [UInt8](repeating: 0x20, count: padding)
            output.append(0x0A)
            return output
        }
        preconditionFailure("a header of \(body.count) bytes does not fit a u32 length")
    }
}

/// The three keys of the header dictionary, checked the way NumPy's `_read_array_header` checks them.
private struct HeaderFields {
    let descr: NumPyDescr
    let shape: Shape
    let fortranOrder: Bool

    init(text: String, source: String) throws(NumPyError) {
        let literal: PythonLiteral
        do {
            literal = try PythonLiteral.parse(text)
        } catch {
            throw .malformedHeader(source: source, reason: "\(error.reason) at character \(error.offset) of \(Self.quoted(text))")
        }
        guard case .dict(let pairs) = literal.value else {
            throw .malformedHeader(source: source, reason: "expected a dictionary, found \(Self.quoted(literal.text))")
        }
        var values: [String: PythonLiteral] = [:]
        for (key, value) in pairs {
            guard case .string(let name) = key.value else {
                throw .malformedHeader(source: source, reason: "key \(key.text) is not a string")
            }
            guard values[name] == nil else { throw .malformedHeader(source: source, reason: "key \(MessageText.quoted(name)) appears twice") }
            values[name] = value
        }
        let expected = ["descr", "fortran_order", "shape"]
        if let extra = values.keys.sorted().first(where: { !expected.contains($0) }) {
            throw .malformedHeader(source: source, reason: "unexpected key \(MessageText.quoted(extra)) (expected exactly 'descr', 'fortran_order', 'shape')")
        }
        guard let descrValue = values["descr"], let fortranValue = values["fortran_order"], let shapeValue = values["shape"] else {
            let missing = expected.filter { values[$0] == nil }.map { "'\($0)'" }.joined(separator: ", ")
            throw .malformedHeader(source: source, reason: "missing key \(missing)")
        }

        guard case .string(let descrText) = descrValue.value else {
            if case .list = descrValue.value {
                throw .unsupportedDType(source: source, descr: descrValue.text, hint: DescrProblem.structured.hint)
            }
            if case .tuple = descrValue.value {
                throw .unsupportedDType(source: source, descr: descrValue.text, hint: DescrProblem.structured.hint)
            }
            throw .malformedHeader(source: source, reason: "'descr' is \(descrValue.text), not a type string like '<f4'")
        }
        switch NumPyDescr.parse(descrText) {
        case .success(let parsed): descr = parsed
        case .failure(let problem): throw .unsupportedDType(source: source, descr: descrValue.text, hint: problem.hint)
        }

        guard case .boolean(let fortran) = fortranValue.value else {
            throw .malformedHeader(source: source, reason: "'fortran_order' is \(fortranValue.text), not True or False")
        }
        fortranOrder = fortran
        shape = try Self.shape(shapeValue, dtype: descr.dtype, source: source)
    }

    private static func shape(_ literal: PythonLiteral, dtype: DType, source: String) throws(NumPyError) -> Shape {
        guard case .tuple(let items) = literal.value else {
            throw .invalidShape(source: source, shape: literal.text, reason: "the shape must be a tuple of integers")
        }
        var dimensions: [Int] = []
        for item in items {
            guard case .integer(let digits) = item.value else {
                throw .invalidShape(source: source, shape: literal.text, reason: "\(item.text) is not an integer")
            }
            guard let dimension = Int(digits) else {
                throw .invalidShape(source: source, shape: literal.text, reason: "dimension \(digits) does not fit in 64 bits")
            }
            guard dimension >= 0 else {
                throw .invalidShape(source: source, shape: literal.text, reason: "dimension \(dimension) is negative")
            }
            dimensions.append(dimension)
        }
        guard dimensions.count <= Shape.maximumRank else {
            throw .invalidShape(source: source, shape: literal.text,
                                reason: "\(dimensions.count) dimensions; at most \(Shape.maximumRank) are supported")
        }
        let shape = Shape(dimensions)
        guard shape.byteCount(for: dtype) != nil else {
            throw .invalidShape(source: source, shape: literal.text,
                                reason: "\(dtype.rawValue) elements of this shape need more bytes than a 64-bit size can count")
        }
        return shape
    }

    /// The header text for an error message: quoted, trailing padding dropped, cut short when long.
    static func quoted(_ text: String) -> String {
        var trimmed = Substring(text)
        while let last = trimmed.last, last == " " || last == "\n" { trimmed = trimmed.dropLast() }
        return MessageText.quoted(String(trimmed), limit: 120, quote: "\"")
    }
}
