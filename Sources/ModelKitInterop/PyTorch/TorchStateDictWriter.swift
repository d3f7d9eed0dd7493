import ModelKitCore
import ModelKitFormat

/// Writes a model as the `state_dict()` of the matching `nn.Sequential`, in the zip layout of `torch.save`, so that
/// `torch.load(path, weights_only=True)` reads it and `load_state_dict(strict=True)` accepts it.
///
/// Names follow the module indices of `nn.Sequential` (every activation is a module too): `linear relu linear`
/// gives `0.weight`, `0.bias`, `2.weight`, `2.bias`. Weights are written `[out, in]` in their stored dtype
/// (`in_out` weights are transposed, which is one copy); biases as they are. The pickle has the shape torch writes
/// (protocol 2, `OrderedDict` of `_rebuild_tensor_v2` calls on storage persistent ids, `_metadata` set by `BUILD`),
/// and `_metadata['modelkit'] = {'architecture': <JSON list form>}` records the activations, which a state dict
/// cannot hold; torch ignores the entry (it matches no module), ModelKit's reader uses it.
enum TorchStateDictWriter {
    /// The `_metadata` key under which ModelKit records the architecture.
    static let metadataKey = "modelkit"
    /// The zip's folder name, as `torch.save` to a buffer uses.
    static let archiveName = "archive"

    /// One state dict entry.
    struct Entry {
        let name: String
        /// Contiguous and little-endian, as every ``Tensor`` is.
        let tensor: Tensor
    }

    /// The complete archive for `model`, written atomically to `path`.
    ///
    /// - Throws: ``PyTorchError/cannotExport(path:reason:)`` when the model is not a chain of dense layers with
    ///   floating-point weights, or ``PyTorchError/fileAccess(_:)``.
    static func write(_ model: Model, to path: String, zip64Threshold: Int = 0xFFFF_FFFF) throws(PyTorchError) {
        let (entries, architecture) = try stateDict(for: model, path: path)
        let moduleCount = architecture.layers.reduce(0) { $0 + 1 + $1.activations.count }
        let pickle = self.pickle(entries, moduleCount: moduleCount, architectureJSON: architecture.jsonText)
        var members = [AlignedZipWriter.Member(name: "\(archiveName)/data.pkl", body: .bytes(pickle))]
        // `.format_version` 1 lets torch compute storage offsets from its own layout rules, which AlignedZipWriter
        // follows; a lowered ZIP64 threshold (tests only) gives another layout, so the promise is not made then.
        if zip64Threshold == 0xFFFF_FFFF {
            members.append(AlignedZipWriter.Member(name: "\(archiveName)/.format_version", body: .bytes(Array("1".utf8))))
        }
        members += [AlignedZipWriter.Member(name: "\(archiveName)/.storage_alignment", body: .bytes(Array("64".utf8))),
                    AlignedZipWriter.Member(name: "\(archiveName)/byteorder", body: .bytes(Array("little".utf8)))]
        for (index, entry) in entries.enumerated() {
            members.append(AlignedZipWriter.Member(name: "\(archiveName)/data/\(index)", body: .tensor(entry.tensor)))
        }
        members.append(AlignedZipWriter.Member(name: "\(archiveName)/version", body: .bytes(Array("3\n".utf8))))
        members.append(AlignedZipWriter.Member(name: "\(archiveName)/.data/serialization_id",
                                               body: .bytes(Array(serializationID(pickle: pickle, entries: entries).utf8))))
        do {
            try AlignedZipWriter.write(members, to: path, zip64Threshold: zip64Threshold)
        } catch let error as FileAccessError {
            throw .fileAccess(error)
        } catch {
            throw .fileAccess(FileAccessError(path: path, operation: "write", reason: "\(error)"))
        }
    }

    /// The state dict entries for `model` and the architecture they follow: ``StateDictExport``'s names and
    /// `[out, in]` weights, after checking that every dense parameter is floating point (`nn.Linear` holds nothing
    /// else, and `load_state_dict` would refuse an integer tensor much later, in the user's Python).
    static func stateDict(for model: Model, path: String) throws(PyTorchError) -> ([Entry], Architecture) {
        for layer in model.layers where layer.kind == .dense {
            for role in ["weight", "bias"] {
                guard let parameter = model.parameter(role, of: layer), !parameter.tensor.dtype.isFloatingPoint else { continue }
                throw .cannotExport(path: path, reason: "\(role) \(MessageText.quoted(parameter.name)) holds "
                                    + "\(parameter.tensor.dtype.rawValue) values; nn.Linear needs floating point")
            }
        }
        let exported: (tensors: [ModelTensor], architecture: Architecture)
        do { exported = try StateDictExport.tensors(of: model) } catch {
            throw .cannotExport(path: path, reason: error.description)
        }
        return (exported.tensors.map { Entry(name: $0.name, tensor: $0.tensor) }, exported.architecture)
    }

    /// `data.pkl`: an `OrderedDict` of name → `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`,
    /// then `BUILD` with `{'_metadata': OrderedDict(...)}`, as torch writes a module's state dict.
    static func pickle(_ entries: [Entry], moduleCount: Int, architectureJSON: String) -> [UInt8] {
        var writer = PickleWriter()
        typealias Op = PickleWriter.Opcode
        writer.memo("OrderedDict") { $0.global("collections", "OrderedDict") }
        writer.op(Op.emptyTuple)
        writer.op(Op.reduce)
        writer.put()
        // Python's pickler writes dict items in batches of 1,000.
        for batchStart in stride(from: 0, to: entries.count, by: 1_000) {
            writer.op(Op.mark)
            for (index, entry) in entries.enumerated().dropFirst(batchStart).prefix(1_000) {
                writer.string(entry.name)
                writeTensor(entry.tensor, key: String(index), into: &writer)
            }
            writer.op(Op.setItems)
        }
        // BUILD state: {'_metadata': OrderedDict('': {'version': 1}, '0': {'version': 1}, …, 'modelkit': {...})}.
        writer.op(Op.emptyDict)
        writer.string("_metadata")
        writer.memo("OrderedDict") { $0.global("collections", "OrderedDict") }
        writer.op(Op.emptyTuple)
        writer.op(Op.reduce)
        writer.op(Op.mark)
        for module in [""] + (0..<moduleCount).map(String.init) {
            writer.string(module)
            writer.op(Op.emptyDict)
            writer.memo("version") { $0.string("version") }
            writer.integer(1)
            writer.op(Op.setItem)
        }
        writer.string(metadataKey)
        writer.op(Op.emptyDict)
        writer.string("architecture")
        writer.string(architectureJSON)
        writer.op(Op.setItem)
        writer.op(Op.setItems)
        writer.op(Op.setItem)
        writer.op(Op.build)
        writer.op(Op.stop)
        return writer.bytes
    }

    private static func writeTensor(_ tensor: Tensor, key: String, into writer: inout PickleWriter) {
        typealias Op = PickleWriter.Opcode
        let type = TorchScalarType(tensor.dtype)
        writer.memo("rebuild") { $0.global("torch._utils", "_rebuild_tensor_v2") }
        writer.op(Op.mark)
        writer.op(Op.mark)
        writer.memo("storage") { $0.string("storage") }
        // Every ModelKit dtype has a legacy storage class (FloatStorage, …); torch writes those for them.
        let storageClass = type.storageClassName ?? "FloatStorage"
        writer.memo(storageClass) { $0.global("torch", storageClass) }
        writer.string(key)
        writer.memo("cpu") { $0.string("cpu") }
        writer.integer(tensor.elementCount)
        writer.op(Op.tuple)
        writer.op(Op.binPersId)
        writer.integer(0)
        writer.tuple(tensor.shape.dimensions)
        writer.tuple(rowMajorStrides(tensor.shape.dimensions))
        writer.op(Op.newFalse)
        writer.memo("OrderedDict") { $0.global("collections", "OrderedDict") }
        writer.op(Op.emptyTuple)
        writer.op(Op.reduce)
        writer.op(Op.tuple)
        writer.op(Op.reduce)
    }

    static func rowMajorStrides(_ dimensions: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: dimensions.count)
        var product = 1
        for axis in dimensions.indices.reversed() {
            strides[axis] = product
            product *= max(dimensions[axis], 1)
        }
        return strides
    }

    /// A deterministic 40-digit id derived from the contents, in the form torch writes (torch derives its own from
    /// the records' CRC-32s too), so the same model always gives the same bytes.
    static func serializationID(pickle: [UInt8], entries: [Entry]) -> String {
        var crc = CRC32.checksum(pickle)
        for entry in entries { crc = CRC32.checksum(entry.tensor.bytes, continuing: crc) }
        let first = String(UInt64(crc) * 2_654_435_761 % 10_000_000_000_000_000_000)
        let second = String(UInt64(entries.count) &* 0x9E37_79B9 % 10_000_000_000_000_000_000)
        return String(repeating: "0", count: 20 - first.count) + first + String(repeating: "0", count: 20 - second.count) + second
    }
}
