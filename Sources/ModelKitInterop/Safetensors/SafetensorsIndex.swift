import ModelKitCore
import ModelKitFormat

/// A sharded checkpoint: `model.safetensors.index.json`, `{"metadata": {…}, "weight_map": {tensor: shard file}}`,
/// next to the shard files it names (the layout Hugging Face's `save_pretrained` writes).
///
/// Every shard is read and checked like a single file; then the index and the shards must agree exactly: each
/// tensor is in the shard the index names, in no other, and every tensor of a shard is listed.
enum SafetensorsIndex {
    /// The largest index file read (real ones are a few hundred kilobytes).
    static let maximumIndexSize = 64 << 20

    static func read(path: String) throws(SafetensorsError) -> SafetensorsFormat.Contents {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .cannotOpen(error) }
        guard storage.bytes.count <= maximumIndexSize else {
            throw .invalidIndex(path: path, reason: "\(storage.bytes.count) bytes is more than an index may have (\(maximumIndexSize))")
        }
        let json: JSONValue
        do { json = try JSONParser.parse(storage.bytes.assumingMemoryBound(to: UInt8.self), limits: .init(maximumDepth: 16)) } catch {
            let detected = FileSniffer.detect(storage.bytes)
            if detected != .json && detected != .modelKitJSON {
                throw .notSafetensors(path: path, detected: detected.rawValue)
            }
            throw .invalidIndex(path: path, reason: "not valid JSON: \(error)")
        }
        guard let weightMap = json["weight_map"]?.objectValue else {
            throw .invalidIndex(path: path, reason: "no \"weight_map\" object (tensor name → shard file); is this a sharded safetensors index?")
        }
        var shardOf: [String: String] = [:]
        for (tensor, value) in weightMap {
            guard let shard = value.stringValue else {
                throw .invalidIndex(path: path, reason: "weight_map[\"\(tensor)\"] is a \(value.typeName), not a shard file name")
            }
            try checkShardName(shard, path: path)
            shardOf[tensor] = shard
        }
        var metadata: [String: String] = [:]
        if let indexMetadata = json["metadata"]?.objectValue {
            for (key, value) in indexMetadata {
                switch value {
                case .string(let text): metadata[key] = text
                case .number(let text): metadata[key] = text
                case .bool(let flag): metadata[key] = flag ? "true" : "false"
                default: break
                }
            }
        }

        let folder = parentDirectory(of: path)
        var tensors: [ModelTensor] = []
        var foundIn: [String: String] = [:]
        var fileSize = storage.bytes.count
        for shard in Set(shardOf.values).sorted() {
            let shardPath = folder + "/" + shard
            let contents = try SafetensorsFormat.readFile(path: shardPath)
            fileSize += contents.fileSize
            for (key, value) in contents.metadata where metadata[key] == nil { metadata[key] = value }
            for tensor in contents.tensors {
                if let other = foundIn[tensor.name] {
                    throw .shardMismatch(path: path, reason: "tensor \(MessageText.quoted(tensor.name)) is in both shard \(MessageText.quoted(other)) and shard \(MessageText.quoted(shard))")
                }
                guard let listed = shardOf[tensor.name] else {
                    throw .shardMismatch(path: path, reason: "shard \(MessageText.quoted(shard)) holds tensor \(MessageText.quoted(tensor.name)), which the weight_map does not list")
                }
                guard listed == shard else {
                    throw .shardMismatch(path: path, reason: "the weight_map puts tensor \(MessageText.quoted(tensor.name)) in shard \(MessageText.quoted(listed)), but it is in shard \(MessageText.quoted(shard))")
                }
                foundIn[tensor.name] = shard
                tensors.append(tensor)
            }
        }
        for (tensor, shard) in shardOf.sorted(by: { $0.key < $1.key }) where foundIn[tensor] == nil {
            throw .shardMismatch(path: path, reason: "the weight_map puts tensor \(MessageText.quoted(tensor)) in shard \(MessageText.quoted(shard)), which does not hold it")
        }
        return SafetensorsFormat.Contents(tensors: tensors, metadata: metadata, fileSize: fileSize)
    }

    /// A shard must be a relative path inside the index's folder: no `..`, no absolute path, no backslash or NUL.
    static func checkShardName(_ shard: String, path: String) throws(SafetensorsError) {
        func refuse(_ reason: String) -> SafetensorsError { .unsafeShardPath(path: path, shard: shard, reason: reason) }
        guard !shard.isEmpty else { throw refuse("the name is empty") }
        guard !shard.hasPrefix("/") else { throw refuse("it is an absolute path") }
        guard !shard.contains("\\") else { throw refuse("it contains a backslash") }
        guard !shard.unicodeScalars.contains(where: { $0.value < 0x20 }) else { throw refuse("it contains a control character") }
        guard !shard.split(separator: "/", omittingEmptySubsequences: false).contains("..") else {
            throw refuse("it contains '..', which leads out of the folder")
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "" : String(path[..<slash])
    }
}
