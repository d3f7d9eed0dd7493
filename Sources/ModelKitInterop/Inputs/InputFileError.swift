import ModelKitCore
import ModelKitFormat

/// Why an input file for `modelkit run` (or an output file it writes) could not be used.
///
/// NumPy problems arrive as ``NumPyError``; this type covers choosing a reader and the CSV and JSON text forms.
/// Every description names the file and, for text, the line or the element path (`[2][1]`).
public enum InputFileError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened or written.
    case fileAccess(FileAccessError)
    /// A `.npy` or `.npz` file could not be read or written.
    case numpy(NumPyError)
    /// Not a format `run` reads; `detected` says what the file looks like.
    case unsupportedFormat(path: String, detected: String)
    /// A CSV problem on a given line (1-based).
    case csv(path: String, line: Int, reason: String)
    /// A JSON problem; `location` is an element path such as `[3]` or `$` for the whole document.
    case json(path: String, location: String, reason: String)
    /// The file holds no numbers at all.
    case empty(path: String)
    /// Several arrays and no name saying which one to use.
    case ambiguousArray(path: String, available: [String])
    /// No array with the requested name.
    case arrayNotFound(path: String, name: String, available: [String])
    /// The output extension is not one we write, or the tensor cannot be written in that form.
    case unsupportedOutput(path: String, reason: String)
    /// Training data that is missing an array or column, or whose inputs and targets do not fit together.
    case invalidTrainingData(path: String, reason: String)

    /// One line naming the file and saying what is wrong and what to do.
    public var description: String {
        switch self {
        case .fileAccess(let error):
            return error.description
        case .numpy(let error):
            return error.description
        case .unsupportedFormat(let path, let detected):
            return "\(path): cannot read this as an input (it looks like \(detected)); "
                + "use a .npy, .npz, .csv or .json file"
        case .csv(let path, let line, let reason):
            return "\(path):\(line): \(reason)"
        case .json(let path, let location, let reason):
            return "\(path): at \(location): \(reason)"
        case .empty(let path):
            return "\(path): holds no numbers; an input needs at least one row of values"
        case .ambiguousArray(let path, let available):
            return "\(path) holds several arrays (\(available.map { "'\($0)'" }.joined(separator: ", "))); "
                + "name the one to use"
        case .arrayNotFound(let path, let name, let available):
            let list = available.isEmpty ? "none" : available.map { "'\($0)'" }.joined(separator: ", ")
            return "\(path): no array named \(MessageText.quoted(name)); it holds: \(list)"
        case .unsupportedOutput(let path, let reason), .invalidTrainingData(let path, let reason):
            return "\(path): \(reason)"
        }
    }
}
