import ModelKitCore
import ModelKitFormat

/// Training data for `modelkit finetune`: inputs `x` and targets `y`.
///
/// - `.npz`: arrays `x` (floating point, `[N, features]`) and `y` (`[N]` integer class ids, or floating point
///   `[N]` / `[N, outputs]`), as `np.savez(path, x=x, y=y)` writes them.
/// - `.csv`: one row per sample; the `target` column (a header name, or a 0-based index) is `y`, every other
///   column is `x`.
///
/// ```swift
/// let data = try TrainingDataFile.read(path: "train.npz")
/// data.inputs.shape   // [1000, 400]
/// data.targets.dtype  // .int64 for class ids
/// ```
public enum TrainingDataFile {
    /// Inputs and targets, row for row.
    public struct Contents: Sendable {
        /// `[N, features]`, any floating-point dtype.
        public var inputs: Tensor
        /// `[N]` or `[N, outputs]`: integer class ids, or floating-point values.
        public var targets: Tensor
    }

    /// Reads the data at `path`.
    ///
    /// - Parameter target: For CSV, the target column's header name or 0-based index (required).
    /// - Throws: ``InputFileError`` naming the file and what is missing or inconsistent.
    public static func read(path: String, target: String? = nil) throws(InputFileError) -> Contents {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .fileAccess(error) }
        let detected = FileSniffer.detect(storage.bytes)
        let contents: Contents
        switch detected {
        case .zip:
            let names: [String]
            do { names = try NumPyFile.archiveArrayNames(path: path) } catch { throw .numpy(error) }
            guard names.contains("x"), names.contains("y") else {
                throw .invalidTrainingData(path: path, reason: "training data needs arrays named 'x' and 'y' (np.savez(path, x=x, y=y)); found \(names.map { "'\($0)'" }.joined(separator: ", "))")
            }
            do {
                contents = Contents(inputs: try NumPyFile.readArchiveArray(path: path, named: "x"),
                                    targets: try NumPyFile.readArchiveArray(path: path, named: "y"))
            } catch { throw .numpy(error) }
        case .text:
            guard let target else {
                throw .invalidTrainingData(path: path, reason: "a CSV holds inputs and targets together: name the target column with --target (a header name or a 0-based index)")
            }
            let table = try withExtendedLifetime(storage) { () throws(InputFileError) in
                try CSVTensorReader.readTable(storage.bytes, path: path)
            }
            contents = try split(table.values, header: table.header, target: target, path: path)
        default:
            throw .unsupportedFormat(path: path, detected: detected.rawValue + " (training data is an .npz with x and y, or a .csv with --target)")
        }
        try check(contents, path: path)
        return contents
    }

    private static func split(_ table: Tensor, header: [String]?, target: String, path: String) throws(InputFileError) -> Contents {
        let columns = table.shape.dimensions[1], rows = table.shape.dimensions[0]
        let index: Int
        if let named = header?.firstIndex(of: target) {
            index = named
        } else if let number = Int(target), (0..<columns).contains(number) {
            index = number
        } else {
            let available = header.map { "columns: " + $0.joined(separator: ", ") } ?? "\(columns) columns without a header"
            throw .invalidTrainingData(path: path, reason: "no target column \(MessageText.quoted(target)) (\(available)); pass a header name or a 0-based index")
        }
        guard columns >= 2 else {
            throw .invalidTrainingData(path: path, reason: "the CSV has one column; it needs input columns besides the target")
        }
        let values = table.floatValues()
        var inputs: [Float] = []
        inputs.reserveCapacity(rows * (columns - 1))
        var targets: [Float] = []
        targets.reserveCapacity(rows)
        for row in 0..<rows {
            for column in 0..<columns {
                let value = values[row * columns + column]
                if column == index { targets.append(value) } else { inputs.append(value) }
            }
        }
        return Contents(inputs: Tensor(float32: inputs, shape: [rows, columns - 1]), targets: Tensor(float32: targets, shape: [rows]))
    }

    private static func check(_ contents: Contents, path: String) throws(InputFileError) {
        let x = contents.inputs.shape, y = contents.targets.shape
        guard x.rank == 2, contents.inputs.dtype.isFloatingPoint else {
            throw .invalidTrainingData(path: path, reason: "x must be a floating-point [samples, features] array; it is \(contents.inputs.dtype.rawValue) \(x)")
        }
        guard (y.rank == 1 || y.rank == 2), y.dimensions[0] == x.dimensions[0] else {
            throw .invalidTrainingData(path: path, reason: "y has shape \(y) but x has \(x.dimensions[0]) samples; y must be [\(x.dimensions[0])] or [\(x.dimensions[0]), outputs]")
        }
        guard contents.targets.dtype != .bool else {
            throw .invalidTrainingData(path: path, reason: "y is bool; use integer class ids or floats")
        }
        guard x.dimensions[0] > 0 else { throw .empty(path: path) }
    }
}
