import ModelKitCore
import ModelKitFormat

/// Writes the output tensor of `modelkit run` as `.npy`, `.csv` or `.json`, chosen by the extension, atomically.
///
/// - `.npy`: the exact dtype and shape (bfloat16, which NumPy lacks, is widened to float32 without loss).
/// - `.csv`: one line per row; a scalar or 1-D tensor is one row; more than 2 dimensions is refused.
/// - `.json`: nested lists matching the shape (a scalar is a bare number); NaN and infinities, which JSON cannot
///   represent, are written as `null`.
///
/// Numbers are written in the shortest form that reads back to the same value of the tensor's dtype.
///
/// ```swift
/// try OutputFile.write(predictions, to: "predictions.csv")
/// ```
public enum OutputFile {
    /// Writes `tensor` to `path` in the format its extension names.
    ///
    /// - Throws: ``InputFileError/unsupportedOutput(path:reason:)`` for an unknown extension or a CSV of rank > 2;
    ///   ``InputFileError/fileAccess(_:)`` or ``InputFileError/numpy(_:)`` when writing fails.
    public static func write(_ tensor: Tensor, to path: String) throws(InputFileError) {
        switch InputFile.fileExtension(of: path) {
        case "npy":
            let exportable = tensor.dtype == .bfloat16 ? Self.widened(tensor) : tensor
            do { try NumPyFile.writeArray(exportable, to: path) } catch { throw .numpy(error) }
        case "csv":
            guard tensor.shape.rank <= 2 else {
                throw .unsupportedOutput(path: path, reason: "CSV holds at most 2 dimensions and this output has shape "
                    + "\(tensor.shape); write it as .npy or .json instead")
            }
            try writeText(csv(tensor), to: path)
        case "json":
            try writeText(json(tensor), to: path)
        case let other:
            throw .unsupportedOutput(path: path, reason: "cannot write outputs as '\(other.isEmpty ? "(no extension)" : "." + other)'; "
                + "use .npy, .csv or .json")
        }
    }

    /// The CSV text: comma-separated values, one row per line, ending with a newline.
    static func csv(_ tensor: Tensor) -> String {
        let columns = tensor.shape.rank == 2 ? tensor.shape.dimensions[1] : tensor.elementCount
        var text = ""
        guard columns > 0 else { return text }
        for index in 0..<tensor.elementCount {
            text += formatted(tensor, index, json: false)
            text += (index + 1) % columns == 0 ? "\n" : ","
        }
        return text
    }

    /// The JSON text: nested lists, innermost lists on one line each.
    static func json(_ tensor: Tensor) -> String {
        let dimensions = tensor.shape.dimensions
        guard !dimensions.isEmpty else { return formatted(tensor, 0, json: true) + "\n" }
        var text = ""
        var next = 0
        func emit(depth: Int, indent: String) {
            if depth == dimensions.count - 1 {
                text += "["
                for item in 0..<dimensions[depth] {
                    if item > 0 { text += ", " }
                    text += formatted(tensor, next, json: true)
                    next += 1
                }
                text += "]"
                return
            }
            guard dimensions[depth] > 0 else { text += "[]"; return }
            text += "[\n"
            for item in 0..<dimensions[depth] {
                text += indent + "  "
                emit(depth: depth + 1, indent: indent + "  ")
                text += item + 1 < dimensions[depth] ? ",\n" : "\n"
            }
            text += indent + "]"
        }
        emit(depth: 0, indent: "")
        return text + "\n"
    }

    /// One element as text: shortest round-trip form for its dtype; `null` for non-finite values in JSON.
    static func formatted(_ tensor: Tensor, _ index: Int, json: Bool) -> String {
        let bytes = tensor.bytes
        switch tensor.dtype {
        case .float32:
            return real(Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self).littleEndian), json: json)
        case .float16:
            return real(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self).littleEndian), json: json)
        case .bfloat16:
            return real(Float(tensor.element(at: index)), json: json)
        case .float64:
            return real(Double(bitPattern: bytes.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self).littleEndian), json: json)
        case .int64:
            return String(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self)))
        case .bool:
            return json ? (bytes[index] != 0 ? "true" : "false") : (bytes[index] != 0 ? "1" : "0")
        case .int8, .int16, .int32, .uint8:
            return String(Int64(tensor.element(at: index)))
        }
    }

    private static func real<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F, json: Bool) -> String {
        if value.isFinite { return value.description }
        return json ? "null" : value.description
    }

    private static func widened(_ tensor: Tensor) -> Tensor {
        // bfloat16 → float32 is exact, so this conversion cannot fail.
        (try? tensor.converted(to: .float32)) ?? tensor
    }

    private static func writeText(_ text: String, to path: String) throws(InputFileError) {
        do {
            try AtomicFileWriter.write(Array(text.utf8), to: path)
        } catch let error as FileAccessError {
            throw .fileAccess(error)
        } catch {
            throw .fileAccess(FileAccessError(path: path, operation: "write", reason: "\(error)"))
        }
    }
}
