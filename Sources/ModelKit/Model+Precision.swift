import ModelKitCore
import ModelKitFormat

extension Model {
    /// A copy whose floating-point tensors are stored as `dtype` (the `--dtype` flag of `convert`); integer and
    /// boolean tensors are kept. Conversion rounds to nearest even (float16/bfloat16), as PyTorch's `.to()` does.
    ///
    /// - Throws: ``ModelFileError`` when `dtype` is not float32, float16 or bfloat16, or a tensor cannot be
    ///   converted.
    public func convertingFloatingPointTensors(to dtype: DType) throws -> Model {
        guard [.float32, .float16, .bfloat16].contains(dtype) else {
            throw ModelFileError(.invalidRequest, "--dtype must be float32, float16 or bfloat16, not \(dtype.rawValue)", path: info.name)
        }
        var copy = self
        var failure: (String, Error)?
        copy.updateTensors { entry in
            guard failure == nil, entry.tensor.dtype.isFloatingPoint, entry.tensor.dtype != dtype else { return }
            do { entry.tensor = try entry.tensor.converted(to: dtype) } catch { failure = (entry.name, error) }
        }
        if let (name, error) = failure {
            throw ModelFileError(.invalidRequest, "tensor \(MessageText.quoted(name)) cannot be converted to \(dtype.rawValue): \(error)", path: info.name)
        }
        return copy
    }
}
