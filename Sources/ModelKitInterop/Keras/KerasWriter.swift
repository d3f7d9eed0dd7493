import ModelKitCore
import ModelKitFormat

/// Writes a ModelKit model as a Keras 3 `.keras` archive or a legacy `.h5` file (K18–K21).
enum KerasWriter {
    /// The Keras version whose file layout is written (what `keras.saving.load_model` was checked with).
    static let kerasVersion = "3.15.1"

    /// One Keras layer to write.
    struct ExportLayer {
        var className: String
        var name: String
        var config: JSONObject
        /// `[in, out]` kernel and `[out]` bias, float32.
        var weights: [(shape: [Int], values: [Float])] = []
    }

    /// The Sequential model: its name, input features and layers (without the `InputLayer`).
    struct Plan {
        var name: String
        var inputFeatures: Int
        var layers: [ExportLayer]
    }

    static func writeArchive(_ model: Model, to path: String) throws(KerasError) {
        let plan = try plan(model, path: path)
        let config = JSONWriter().bytes(configJSON(plan))
        let metadata = JSONWriter().bytes(.object(JSONObject([("keras_version", .string(kerasVersion)),
                                                              ("date_saved", .string("2020-01-01@00:00:00")),
                                                              ("exported_by", .string("ModelKit"))])))
        let weights = try HDF5Library.withLock { () throws(KerasError) -> [UInt8] in try storeImage(plan, path: path) }
        let members = [("metadata.json", metadata), ("config.json", config), ("model.weights.h5", weights)].map { name, bytes in
            ZipArchiveWriter.Member(name: name, prefix: bytes, body: Tensor(float32: [], shape: [0]))
        }
        do {
            let archive = try ZipArchiveWriter.archive(members: members, compressed: false)
            try AtomicFileWriter.write(to: path) { sink in
                try archive.withUnsafeBytes { raw in try sink.write(raw) }
            }
        } catch let error as FileAccessError {
            throw .fileAccess(error)
        } catch {
            throw .cannotExport(path: path, reason: "\(error)")
        }
    }

    static func writeLegacy(_ model: Model, to path: String) throws(KerasError) {
        let plan = try plan(model, path: path)
        let bytes = try HDF5Library.withLock { () throws(KerasError) -> [UInt8] in try legacyImage(plan, path: path) }
        do { try AtomicFileWriter.write(bytes, to: path) } catch let error as FileAccessError {
            throw .fileAccess(error)
        } catch {
            throw .cannotExport(path: path, reason: "\(error)")
        }
    }

    // MARK: - Weights files

    /// `model.weights.h5` as Keras 3's `saving_lib` lays it out: `layers/<snake_case class>[_n]/vars/<i>`, each
    /// `vars` group with the layer's `name`, and an empty root `vars` named after the model.
    static func storeImage(_ plan: Plan, path: String) throws(KerasError) -> [UInt8] {
        let writer = try HDF5Writer(label: path)
        let root = try writer.root()
        let layersGroup = try writer.createGroup("layers", in: root, path: "layers")
        var used: [String: Int] = [:]
        for layer in plan.layers {
            let snake = snakeCase(layer.className)
            let count = used[snake, default: -1] + 1
            used[snake] = count
            let groupName = count == 0 ? snake : "\(snake)_\(count)"
            let group = try writer.createGroup(groupName, in: layersGroup, path: "layers/\(groupName)")
            let varsPath = "layers/\(groupName)/vars"
            let vars = try writer.createGroup("vars", in: group, path: varsPath)
            try writer.setString(layer.name, name: "name", on: vars, path: varsPath)
            for (index, weight) in layer.weights.enumerated() {
                try writer.writeFloats(weight.values, shape: weight.shape, name: "\(index)", in: vars, path: "\(varsPath)/\(index)")
            }
        }
        let vars = try writer.createGroup("vars", in: root, path: "vars")
        try writer.setString(plan.name, name: "name", on: vars, path: "vars")
        return try writer.image()
    }

    /// A legacy `.h5` as `legacy_h5_format.save_model_to_hdf5` lays it out: root attributes `model_config`,
    /// `keras_version`, `backend`; `model_weights/<layer>/` with `weight_names` (`<model>/<layer>/kernel`, `…/bias`)
    /// and the datasets at those paths.
    static func legacyImage(_ plan: Plan, path: String) throws(KerasError) -> [UInt8] {
        let writer = try HDF5Writer(label: path)
        let root = try writer.root()
        try writer.setString(JSONWriter().string(configJSON(plan)), name: "model_config", on: root, path: "/")
        try writer.setString(kerasVersion, name: "keras_version", on: root, path: "/")
        try writer.setString("jax", name: "backend", on: root, path: "/")
        let weightsGroup = try writer.createGroup("model_weights", in: root, path: "model_weights")
        try writer.setStrings(plan.layers.map(\.name), name: "layer_names", on: weightsGroup, path: "model_weights")
        try writer.setString(kerasVersion, name: "keras_version", on: weightsGroup, path: "model_weights")
        try writer.setString("jax", name: "backend", on: weightsGroup, path: "model_weights")
        for layer in plan.layers.sorted(by: { $0.name < $1.name }) + [ExportLayer(className: "", name: "top_level_model_weights", config: JSONObject())] {
            let groupPath = "model_weights/\(layer.name)"
            let group = try writer.createGroup(layer.name, in: weightsGroup, path: groupPath)
            let roles = ["kernel", "bias"].prefix(layer.weights.count)
            try writer.setStrings(roles.map { "\(plan.name)/\(layer.name)/\($0)" }, name: "weight_names", on: group, path: groupPath)
            guard !layer.weights.isEmpty else { continue }
            let modelGroup = try writer.createGroup(plan.name, in: group, path: "\(groupPath)/\(plan.name)")
            let layerGroup = try writer.createGroup(layer.name, in: modelGroup, path: "\(groupPath)/\(plan.name)/\(layer.name)")
            for (role, weight) in zip(roles, layer.weights) {
                try writer.writeFloats(weight.values, shape: weight.shape, name: role, in: layerGroup,
                                       path: "\(groupPath)/\(plan.name)/\(layer.name)/\(role)")
            }
        }
        return try writer.image()
    }

    /// Keras's `naming.to_snake_case` for the classes written here (`LeakyReLU` → `leaky_re_lu`).
    static func snakeCase(_ className: String) -> String {
        var result = ""
        let characters = Array(className)
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                if previous.isLowercase || (next?.isLowercase ?? false) { result += "_" }
            }
            result += character.lowercased()
        }
        return result
    }
}
