import ModelKitCore
import ModelKitFormat

/// Reads the input tensor of `modelkit run` from a `.npy`, `.npz`, `.csv` or `.json` file.
///
/// The reader is picked by content first (the `.npy` magic, a zip signature, text starting with `[` or `{`), then
/// by extension (other text in a `.json` file is JSON), and any other text is CSV (Specs/interop/numpy.md, I1). NumPy inputs keep their dtype (float64 and float16 are returned as they are;
/// the engine converts them and the CLI reports it); CSV and JSON give float32.
///
/// ```swift
/// let batch = try InputFile.read(path: "batch.csv")                   // float32 [rows, columns]
/// let x = try InputFile.read(path: "data.npz", arrayName: "x_test")   // one array of an archive
/// ```
public enum InputFile {
    /// Reads the tensor in the file at `path`.
    ///
    /// - Parameters:
    ///   - path: A `.npy`, `.npz`, `.csv` or `.json` file.
    ///   - arrayName: Which array of an `.npz` archive (or key of a JSON object) to use; needed only when there are
    ///     several. Ignored for single-array formats.
    /// - Throws: ``InputFileError``: `.numpy` for NumPy problems, `.csv`/`.json` naming the line or element,
    ///   `.ambiguousArray` listing the names when several arrays are present and none is named.
    public static func read(path: String, arrayName: String? = nil) throws(InputFileError) -> Tensor {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .fileAccess(error) }
        // The text readers use the mapped bytes directly: keep the mapping alive until they are done.
        return try withExtendedLifetime(storage) { () throws(InputFileError) -> Tensor in
            try read(storage: storage, path: path, arrayName: arrayName)
        }
    }

    private static func read(storage: TensorStorage, path: String, arrayName: String?) throws(InputFileError) -> Tensor {
        let bytes = storage.bytes
        let detected = FileSniffer.detect(bytes)
        let fileExtension = Self.fileExtension(of: path)
        switch detected {
        case .numpy:
            do { return try NumPyFile.readArray(storage: storage, range: 0..<bytes.count, source: path) } catch { throw .numpy(error) }
        case .zip:
            return try readArchive(path: path, arrayName: arrayName)
        case .json:
            return try JSONTensorReader.read(Array(bytes), path: path, arrayName: arrayName)
        case .text where fileExtension == "json":
            // Let the JSON parser say what is wrong with it.
            return try JSONTensorReader.read(Array(bytes), path: path, arrayName: arrayName)
        case .text:
            return try CSVTensorReader.read(bytes, path: path)
        case .empty:
            throw .empty(path: path)
        default:
            if fileExtension == "npy" {
                // A file named .npy that is something else: the NumPy reader explains what it looks like.
                do { _ = try NumPyFile.readArray(storage: storage, range: 0..<bytes.count, source: path) } catch { throw .numpy(error) }
            }
            throw .unsupportedFormat(path: path, detected: detected.rawValue)
        }
    }

    private static func readArchive(path: String, arrayName: String?) throws(InputFileError) -> Tensor {
        do {
            if let name = arrayName { return try NumPyFile.readArchiveArray(path: path, named: name) }
            let names = try NumPyFile.archiveArrayNames(path: path)
            guard let only = names.first else { throw InputFileError.empty(path: path) }
            guard names.count == 1 else { throw InputFileError.ambiguousArray(path: path, available: names) }
            return try NumPyFile.readArchiveArray(path: path, named: only)
        } catch let error as InputFileError {
            throw error
        } catch let error as NumPyError {
            if case .arrayNotFound(_, let name, let available) = error {
                throw .arrayNotFound(path: path, name: name, available: available)
            }
            throw .numpy(error)
        } catch {
            throw .unsupportedFormat(path: path, detected: "\(error)")
        }
    }

    /// The lowercased extension of the last path component, or "" when there is none.
    static func fileExtension(of path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return name[name.index(after: dot)...].lowercased()
    }
}
