import ModelKitCore

/// Reads nested JSON lists of numbers into a float32 tensor.
///
/// `[[1, 2], [3, 4]]` gives `[2, 2]`; a flat list `[1, 2, 3]` is one row, `[1, 3]`; deeper nesting gives higher
/// ranks. Every list at the same depth must have the same length (an error names the first ragged element by its
/// path, e.g. `[2]`). A top-level object maps names to such lists, like an `.npz`: the named one is used, or the only
/// one. Parsing uses the core's strict, depth-limited ``JSONValue/parse(_:limits:)``.
enum JSONTensorReader {
    static func read(_ bytes: [UInt8], path: String, arrayName: String?) throws(InputFileError) -> Tensor {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw .json(path: path, location: position(of: error.offset, in: bytes), reason: error.reason)
        }
        switch document {
        case .array:
            return try tensor(from: document, path: path, location: "")
        case .object(let object):
            if let name = arrayName {
                guard let value = object[name] else { throw .arrayNotFound(path: path, name: name, available: object.keys) }
                return try tensor(from: value, path: path, location: "[\"\(name)\"]")
            }
            guard object.count == 1, let key = object.keys.first, let value = object[key] else {
                if object.isEmpty { throw .empty(path: path) }
                throw .ambiguousArray(path: path, available: object.keys)
            }
            return try tensor(from: value, path: path, location: "[\"\(key)\"]")
        default:
            throw .json(path: path, location: "$", reason: "expected a list of numbers (like [[1, 2], [3, 4]]), found a \(document.typeName)")
        }
    }

    /// The tensor of a nested list whose shape is read off its first elements and then enforced everywhere.
    private static func tensor(from value: JSONValue, path: String, location: String) throws(InputFileError) -> Tensor {
        var dimensions: [Int] = []
        var probe = value
        while case .array(let items) = probe {
            dimensions.append(items.count)
            guard let first = items.first else { break }
            probe = first
        }
        guard !dimensions.isEmpty else {
            throw .json(path: path, location: label(location), reason: "expected a list of numbers, found a \(value.typeName)")
        }
        guard dimensions.count <= Shape.maximumRank else {
            throw .json(path: path, location: label(location),
                        reason: "lists nested \(dimensions.count) deep; at most \(Shape.maximumRank) dimensions are supported")
        }
        guard !dimensions.contains(0) else { throw .empty(path: path) }
        var values: [Float] = []
        values.reserveCapacity(dimensions.reduce(1, *))
        try collect(value, depth: 0, dimensions: dimensions, location: location, path: path, into: &values)
        if dimensions.count == 1 { dimensions.insert(1, at: 0) }
        return Tensor(float32: values, shape: Shape(dimensions))
    }

    private static func collect(_ value: JSONValue, depth: Int, dimensions: [Int], location: String, path: String,
                                into values: inout [Float]) throws(InputFileError) {
        if depth == dimensions.count {
            guard case .number(let text) = value else {
                let found = value.arrayValue != nil ? "a list (the lists are nested unevenly)" : "a \(value.typeName)"
                throw .json(path: path, location: label(location), reason: "expected a number, found \(found)")
            }
            guard let number = Float(text), number.isFinite else {
                throw .json(path: path, location: label(location), reason: "\(text) is outside the float32 range (±3.4e38)")
            }
            values.append(number)
            return
        }
        guard case .array(let items) = value else {
            throw .json(path: path, location: label(location),
                        reason: "expected a list of \(dimensions[depth]) elements, found a \(value.typeName)")
        }
        guard items.count == dimensions[depth] else {
            throw .json(path: path, location: label(location),
                        reason: "this row has \(items.count) elements but the first row at this depth has \(dimensions[depth]); "
                            + "every row needs the same length (the lists are ragged)")
        }
        for (index, item) in items.enumerated() {
            try collect(item, depth: depth + 1, dimensions: dimensions, location: location + "[\(index)]", path: path,
                        into: &values)
        }
    }

    private static func label(_ location: String) -> String { location.isEmpty ? "$" : location }

    /// "line L, column C" for a byte offset, so a syntax error can be found in an editor.
    private static func position(of offset: Int, in bytes: [UInt8]) -> String {
        var line = 1
        var column = 1
        for byte in bytes.prefix(min(max(offset, 0), bytes.count)) {
            if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
        }
        return "line \(line), column \(column)"
    }
}
