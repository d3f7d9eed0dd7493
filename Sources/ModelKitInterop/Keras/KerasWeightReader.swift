import ModelKitCore

/// A dense layer's weights as read from the file: shapes as stored, values converted to float32.
struct KerasDenseWeights {
    var kernel: (shape: [Int], values: [Float])
    var bias: (shape: [Int], values: [Float])?
}

/// Finds a dense layer's weights in the two layouts Keras writes (K14, K15). Use only inside
/// one read (the reader points into the file's bytes).
struct KerasWeightReader {
    /// Which layout the file uses.
    enum Layout {
        /// Keras 3 `model.weights.h5`: `layers/<snake_case class>[_n]/vars/0` (kernel), `…/1` (bias); each `vars`
        /// group's `name` attribute holds the layer's name.
        case kerasStore
        /// Legacy `.h5`: `model_weights/<layer name>/` with the attribute `weight_names` listing the datasets
        /// (`sequential/d1/kernel`, Keras 2: `d1/kernel:0`) relative to that group.
        case legacy
    }

    let reader: HDF5Reader
    let layout: Layout
    /// Every dataset in the file (from the cycle-safe survey).
    let survey: HDF5Survey
    /// `vars` group name attribute → group path, for `.kerasStore`.
    private var storeGroups: [String: String] = [:]

    init(reader: HDF5Reader, layout: Layout) throws(KerasError) {
        self.reader = reader
        self.layout = layout
        survey = try HDF5Survey(reader)
        if layout == .kerasStore, let layers = try reader.group(at: "layers") {
            for child in try reader.childNames(of: layers, path: "layers") {
                guard let vars = try reader.group(at: "layers/\(child)/vars"),
                      let name = try reader.stringAttribute("name", of: vars, objectPath: "layers/\(child)/vars") else { continue }
                storeGroups[name] = "layers/\(child)"
            }
        }
    }

    /// The weights of the dense layer `name`, the `denseIndex`-th `Dense` of the model (0-based).
    func denseWeights(layer name: String, denseIndex: Int, useBias: Bool) throws(KerasError) -> KerasDenseWeights {
        switch layout {
        case .kerasStore: try storeWeights(layer: name, denseIndex: denseIndex, useBias: useBias)
        case .legacy: try legacyWeights(layer: name, useBias: useBias)
        }
    }

    private func storeWeights(layer name: String, denseIndex: Int, useBias: Bool) throws(KerasError) -> KerasDenseWeights {
        // Keras names each layer's group after its class, numbered per class in layer order (saving_lib's
        // `_get_unique_name`); the `name` attribute of `vars` (Keras ≥ 3.9) confirms it when present.
        let base = storeGroups[name] ?? (denseIndex == 0 ? "layers/dense" : "layers/dense_\(denseIndex)")
        let varsPath = base + "/vars"
        guard let vars = try reader.group(at: varsPath) else {
            throw .missingWeights(path: reader.label, layer: name, reason: "no group \(MessageText.quoted(varsPath)) holds its variables")
        }
        let names = try reader.childNames(of: vars, path: varsPath)
        let expected = useBias ? ["0", "1"] : ["0"]
        guard names.sorted() == expected else {
            throw .missingWeights(path: reader.label, layer: name,
                                  reason: "\(MessageText.quoted(varsPath)) holds \(names.count) variables (\(MessageText.list(names.map { MessageText.quoted($0) }))), "
                                      + "expected \(expected.count) (kernel\(useBias ? ", bias" : ""))")
        }
        let kernel = try reader.readFloats("0", in: vars, objectPath: varsPath + "/0")
        let bias = useBias ? try reader.readFloats("1", in: vars, objectPath: varsPath + "/1") : nil
        return KerasDenseWeights(kernel: kernel, bias: bias)
    }

    private func legacyWeights(layer name: String, useBias: Bool) throws(KerasError) -> KerasDenseWeights {
        let groupPath = "model_weights/" + name
        guard !name.contains("/"), let group = try reader.group(at: groupPath) else {
            throw .missingWeights(path: reader.label, layer: name, reason: "the file has no group \(MessageText.quoted(groupPath))")
        }
        var weightPaths: [String]
        if let listed = try weightNames(of: group, path: groupPath) {
            weightPaths = listed.map { groupPath + "/" + $0 }
        } else {
            weightPaths = survey.datasets.filter { $0.hasPrefix(groupPath + "/") }
        }
        let kernels = weightPaths.filter { Self.role(of: $0) == "kernel" }
        let biases = weightPaths.filter { Self.role(of: $0) == "bias" }
        guard weightPaths.count == (useBias ? 2 : 1), kernels.count == 1, biases.count == (useBias ? 1 : 0) else {
            throw .missingWeights(path: reader.label, layer: name,
                                  reason: "expected kernel\(useBias ? " and bias" : "") under \(MessageText.quoted(groupPath)), found "
                                      + (weightPaths.isEmpty ? "none" : MessageText.list(weightPaths.map { MessageText.quoted($0) })))
        }
        let kernel = try read(kernels[0])
        let bias = useBias ? try read(biases[0]) : nil
        return KerasDenseWeights(kernel: kernel, bias: bias)
    }

    /// `weight_names`, or its chunks `weight_names0`, `weight_names1`, … (Keras splits attributes over 64 KiB).
    private func weightNames(of group: HDF5Reader.Object, path: String) throws(KerasError) -> [String]? {
        if let names = try reader.stringsAttribute("weight_names", of: group, objectPath: path) { return names }
        var names: [String] = []
        var chunk = 0
        while chunk < 1024, let part = try reader.stringsAttribute("weight_names\(chunk)", of: group, objectPath: path) {
            names += part
            chunk += 1
        }
        return chunk == 0 ? nil : names
    }

    /// `kernel` or `bias` from a weight path (`…/kernel:0` → `kernel`).
    private static func role(of path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        return last.hasSuffix(":0") ? String(last.dropLast(2)) : last
    }

    private func read(_ path: String) throws(KerasError) -> (shape: [Int], values: [Float]) {
        var components = path.split(separator: "/").map(String.init)
        guard let name = components.popLast(), !components.contains("..") else {
            throw .hdf5(path: reader.label, object: path, reason: "invalid weight path")
        }
        let directory = components.joined(separator: "/")
        guard let group = try reader.group(at: directory) else {
            throw .hdf5(path: reader.label, object: path, reason: "no such dataset (its group is missing)")
        }
        return try reader.readFloats(name, in: group, objectPath: path)
    }
}
