import ModelKitCore

/// The tensors of a dense model named and laid out as the `state_dict()` of the matching PyTorch `nn.Sequential`:
/// `<module index>.weight` `[out, in]` and `<module index>.bias`, in layer order. Weight-only exports (`.npz`,
/// and the layout safetensors and `.pt` share) use it so that their names sort into layer order and load into
/// the PyTorch module with `strict=True`.
enum StateDictExport {
    /// What cannot be exported, in one line.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The state-dict tensors of `model` and its architecture.
    ///
    /// - Throws: ``Failure`` when the model is not a chain of dense layers and activations, or a parameter has the
    ///   wrong shape.
    static func tensors(of model: Model) throws(Failure) -> (tensors: [ModelTensor], architecture: Architecture) {
        let architecture: Architecture
        do { architecture = try Architecture(model: model) } catch { throw Failure(description: error.description) }
        let denseLayers = model.layers.filter { $0.kind == .dense }
        var tensors: [ModelTensor] = []
        for ((index, layer), dense) in zip(zip(architecture.sequentialIndices, denseLayers), architecture.layers) {
            guard let weight = model.parameter("weight", of: layer) else {
                throw Failure(description: "layer \(MessageText.quoted(layer.name)) has no weight")
            }
            var outIn = weight.tensor
            if weight.layout == .inOut {
                do { outIn = try weight.tensor.transposed2D() } catch {
                    throw Failure(description: "layer \(MessageText.quoted(layer.name)): weight \(MessageText.quoted(weight.name)): \(error)")
                }
            }
            tensors.append(ModelTensor(name: "\(index).weight", tensor: outIn, layout: .outIn))
            if let bias = model.parameter("bias", of: layer) {
                guard bias.tensor.shape == [dense.outputFeatures] else {
                    throw Failure(description: "layer \(MessageText.quoted(layer.name)): bias \(MessageText.quoted(bias.name)) has shape \(bias.tensor.shape), not [\(dense.outputFeatures)]")
                }
                tensors.append(ModelTensor(name: "\(index).bias", tensor: bias.tensor))
            }
        }
        return (tensors, architecture)
    }
}
