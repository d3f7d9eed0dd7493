import ModelKitCore

/// Reading and writing a checkpoint as one `.mkit` file (Specs/checkpoint.md section 2, rules K1–K7).
extension Checkpoint {
    /// The metadata key holding the checkpoint's JSON text (K2).
    public static let metadataKey = "modelkit.checkpoint"
    /// The name prefix of optimizer buffers stored as tensors (K3).
    public static let optimizerPrefix = "optimizer/"
    /// The checkpoint version this library writes; a reader refuses a newer one (K6).
    public static let version = 1

    /// Writes the checkpoint to `path` atomically (a temporary file in the same directory, fsync, rename, fsync of
    /// the directory), tensors compressed as `compression` says.
    ///
    /// - Throws: ``CheckpointError`` `.writeFailed` on any I/O error (full disk, file-size limit), leaving any
    ///   previous file at `path` intact; `.invalidRequest` when a layer uses a tensor under `optimizer/`.
    public func write(to path: String, compression: CheckpointCompression = .fast) throws(CheckpointError) {
        let combined = try fileModel()
        do {
            try MKitWriter.write(combined, to: path, compression: compression.zlibLevel)
        } catch let error as FileAccessError {
            throw CheckpointError(.writeFailed, "cannot write the checkpoint (\(error.operation) failed: \(error.reason)); nothing was written under this name (free disk space or raise the file-size limit, then resume)", path: path)
        } catch {
            throw CheckpointError(.writeFailed, "cannot write the checkpoint: \(error)", path: path)
        }
    }

    /// Reads the checkpoint at `path`, verifying every checksum first (K5).
    ///
    /// - Throws: ``CheckpointError`` `.damaged` naming the tensor whose checksum fails (or the header, or the
    ///   truncation), `.notACheckpoint` for a plain model, `.invalid` / `.unsupported` for bad checkpoint parts.
    public static func read(from path: String) throws(CheckpointError) -> Checkpoint {
        let loaded: LoadedModel
        do {
            loaded = try ModelFile.read(path: path, checksums: .enforce)
        } catch {
            let kind: CheckpointError.Kind
            switch error.kind {
            case .io, .notThisFormat, .invalidRequest: kind = .invalidRequest
            case .unsupported: kind = .unsupported
            case .truncated, .checksumMismatch, .corrupt: kind = .damaged
            }
            throw CheckpointError(kind, "cannot read the checkpoint: \(error.message)", path: path)
        }
        do {
            return try Checkpoint(fileModel: loaded.model)
        } catch {
            throw CheckpointError(error.kind, error.message, path: path)
        }
    }

    /// `model` without checkpoint parts: the `modelkit.checkpoint` metadata and the tensors under `optimizer/`
    /// that no layer uses (K7). Use it to write a checkpoint's model as a plain model.
    public static func removingCheckpointParts(from model: Model) -> Model {
        let used = Set(model.layers.flatMap { $0.parameters.values })
        var info = model.info
        info.metadata[metadataKey] = nil
        let kept = model.tensors.filter { !$0.name.hasPrefix(optimizerPrefix) || used.contains($0.name) }
        return Model(info: info, layers: model.layers, tensors: kept, extra: model.extra)
    }

    /// The model that is written: the model (stale checkpoint parts replaced), the optimizer buffers as tensors
    /// and the JSON text in the metadata.
    func fileModel() throws(CheckpointError) -> Model {
        var combined = Self.removingCheckpointParts(from: model)
        for layer in combined.layers {
            for name in layer.parameters.values where name.hasPrefix(Self.optimizerPrefix) {
                throw CheckpointError(.invalidRequest, "layer \(MessageText.quoted(layer.name)) uses tensor \(MessageText.quoted(name)), but the prefix \(MessageText.quoted(Self.optimizerPrefix)) is reserved for optimizer state in checkpoints; rename the tensor")
            }
        }
        for named in optimizerState.tensors {
            let stored = Self.optimizerPrefix + named.name
            guard combined.tensor(named: stored) == nil else {
                throw CheckpointError(.invalidRequest, "optimizer buffer \(MessageText.quoted(named.name)) is listed twice")
            }
            combined.addTensor(ModelTensor(name: stored, tensor: named.tensor))
        }
        combined.info.metadata[Self.metadataKey] = JSONWriter().string(manifest)
        return combined
    }

    /// The JSON stored under ``metadataKey`` (K2, K4).
    var manifest: JSONValue {
        let steps = optimizerState.steps.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.integer($0.value)) }
        return .object(JSONObject([
            ("checkpoint_version", .integer(Self.version)),
            ("training_state", trainingState.jsonValue),
            ("configuration", configuration.jsonValue),
            ("optimizer", .object(JSONObject([
                ("kind", .string(optimizerState.kind.rawValue)),
                ("steps", .object(JSONObject(steps))),
                ("tensors", .array(optimizerState.tensors.map { .string($0.name) })),
            ]))),
            ("source_model", sourceModel?.jsonValue ?? .null),
            ("data", data?.jsonValue ?? .null),
            ("notes", .string(notes)),
        ]))
    }

    /// Splits a model read from a checkpoint file into the checkpoint's parts, checking them (K3–K6).
    init(fileModel: Model) throws(CheckpointError) {
        guard let text = fileModel.info.metadata[Self.metadataKey] else {
            throw CheckpointError(.notACheckpoint, "this is a plain model without checkpoint state (no \(MessageText.quoted(Self.metadataKey)) metadata); pass it as the model to fine-tune, not to --resume")
        }
        let json: JSONValue
        do {
            json = try Array(text.utf8).withUnsafeBufferPointer { buffer throws(JSONError) in try JSONParser.parse(buffer) }
        } catch {
            throw CheckpointError(.invalid, "the \(MessageText.quoted(Self.metadataKey)) metadata is not valid JSON: \(error)")
        }
        guard let version = json["checkpoint_version"]?.intValue else {
            throw CheckpointError(.invalid, "the checkpoint metadata lacks an integer 'checkpoint_version'")
        }
        guard version >= 1, version <= Self.version else {
            throw CheckpointError(.unsupported, "checkpoint version \(version) is not supported by this reader (version \(Self.version)); upgrade modelkit")
        }
        func part<T>(_ key: String, _ body: (JSONValue) throws(TrainingError) -> T) throws(CheckpointError) -> T {
            guard let value = json[key] else { throw CheckpointError(.invalid, "the checkpoint metadata lacks \(MessageText.quoted(key))") }
            do { return try body(value) } catch { throw CheckpointError(.invalid, "checkpoint \(MessageText.quoted(key)): \(error)") }
        }
        let trainingState = try part("training_state") { value throws(TrainingError) in try TrainingState(json: value) }
        let configuration = try part("configuration") { value throws(TrainingError) in try TrainingConfiguration(json: value) }
        let optimizer = try Self.optimizerState(json["optimizer"], in: fileModel)
        guard let notes = json["notes"]?.stringValue else { throw CheckpointError(.invalid, "checkpoint key 'notes' must be a string") }
        self.init(model: Self.removingCheckpointParts(from: fileModel), optimizerState: optimizer, trainingState: trainingState,
                  configuration: configuration,
                  sourceModel: try FileFingerprint(json: json["source_model"] ?? .null, key: "source_model"),
                  data: try FileFingerprint(json: json["data"] ?? .null, key: "data"), notes: notes)
    }

    private static func optimizerState(_ json: JSONValue?, in model: Model) throws(CheckpointError) -> OptimizerState {
        guard let json, let kindText = json["kind"]?.stringValue, let kind = OptimizerKind(rawValue: kindText) else {
            throw CheckpointError(.invalid, "checkpoint 'optimizer.kind' must be one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let stepPairs = json["steps"]?.objectValue, let names = json["tensors"]?.arrayValue else {
            throw CheckpointError(.invalid, "checkpoint 'optimizer' needs 'steps' (an object) and 'tensors' (a list)")
        }
        var steps: [String: Int] = [:]
        for (name, value) in stepPairs {
            guard let count = value.intValue, count >= 0 else {
                throw CheckpointError(.invalid, "checkpoint optimizer step count of \(MessageText.quoted(name)) must be a non-negative integer")
            }
            guard model.tensor(named: name) != nil else {
                throw CheckpointError(.invalid, "checkpoint optimizer steps name \(MessageText.quoted(name)), which is not a tensor of the model")
            }
            steps[name] = count
        }
        var tensors: [NamedTensor] = []
        var listed = Set<String>()
        for item in names {
            guard let name = item.stringValue, listed.insert(name).inserted else {
                throw CheckpointError(.invalid, "checkpoint 'optimizer.tensors' must list distinct names")
            }
            guard let stored = model.tensor(named: optimizerPrefix + name) else {
                throw CheckpointError(.invalid, "optimizer buffer \(MessageText.quoted(name)) is listed but tensor '\(optimizerPrefix + name)' is not in the file")
            }
            guard stored.tensor.dtype == .float32 else {
                throw CheckpointError(.invalid, "optimizer tensor \(MessageText.quoted(stored.name)) is \(stored.tensor.dtype.rawValue); optimizer buffers are float32")
            }
            tensors.append(NamedTensor(name: name, tensor: stored.tensor))
        }
        let used = Set(model.layers.flatMap { $0.parameters.values })
        for tensor in model.tensors where tensor.name.hasPrefix(optimizerPrefix) && !used.contains(tensor.name) {
            guard listed.contains(String(tensor.name.dropFirst(optimizerPrefix.count))) else {
                throw CheckpointError(.invalid, "tensor \(MessageText.quoted(tensor.name)) uses the reserved prefix \(MessageText.quoted(optimizerPrefix)) but is not listed in 'optimizer.tensors'")
            }
        }
        return OptimizerState(kind: kind, steps: steps, tensors: tensors)
    }
}
