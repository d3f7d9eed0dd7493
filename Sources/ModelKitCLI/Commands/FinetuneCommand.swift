import ArgumentParser
import Foundation
import ModelKit

/// `modelkit finetune MODEL --data DATA … --output OUT`: trains a model on the user's data with PyTorch's loss,
/// optimizer and schedule semantics and writes it in any writable format.
struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a model on your data (PyTorch's losses, optimizers and schedules) and write it in any format.")

    @Argument(help: "The model to start from (any supported format; recognised by content).")
    var model: String

    @Option(name: .long, help: "Training data: .npz with arrays x (float) and y (int class ids or floats), or .csv with --target.")
    var data: String

    @Option(name: .long, help: "The target column of a CSV: a header name or a 0-based index.")
    var target: String?

    @Option(name: .long, help: "Validation data, in the same form as --data.")
    var val: String?

    @Option(name: .long, help: "Hold out this fraction of --data (its last rows) for validation.")
    var valSplit: Double?

    @Option(name: .long, help: "Where to write the fine-tuned model; the extension picks the format.")
    var output: String

    @Option(name: .long, help: "Write every step's metrics to this file, one JSON object per line.")
    var log: String?

    @Option(name: .long, help: "Draw the training and validation loss curves to this SVG file.")
    var plot: String?

    @OptionGroup var source: ModelSourceOptions
    @OptionGroup var hyperparameters: FinetuneHyperparameters

    func validate() throws {
        guard ModelFormat(outputPath: output) != nil else {
            throw ValidationError("Cannot tell the output format of '\(output)' from its extension; use one of \(ModelFormat.outputExtensionList).")
        }
        if val != nil && valSplit != nil { throw ValidationError("Use --val or --val-split, not both.") }
        if let valSplit, !(valSplit > 0 && valSplit < 1) { throw ValidationError("--val-split must be between 0 and 1 (exclusive).") }
        if let log, !log.lowercased().hasSuffix(".jsonl") { throw ValidationError("--log writes JSON lines: give a .jsonl path.") }
        if let plot, !plot.lowercased().hasSuffix(".svg") { throw ValidationError("--plot draws an SVG: give a .svg path.") }
    }

    func run() throws {
        for input in [model, data] + (val.map { [$0] } ?? []) where try SameFile.check(input, output) {
            throw ModelFileError(.invalidRequest, "refusing to overwrite an input file; choose another output path", path: output)
        }
        let loaded = try ModelIO.load(model, options: try source.loadOptions())
        for note in loaded.notes { printToStandardError("note: \(note)") }
        let loss = hyperparameters.loss.loss
        var training = try FinetuneData.load(path: data, target: target, loss: loss)
        var validation = try val.map { try FinetuneData.load(path: $0, target: target, loss: loss) }
        if let valSplit { (training, validation) = try training.splitting(holdOut: valSplit) }

        let stepsPerEpoch = (training.rows + hyperparameters.batchSize - 1) / hyperparameters.batchSize
        let configuration = try hyperparameters.configuration(stepsPerEpoch: stepsPerEpoch)
        let trainer = try Trainer(model: loaded.model, configuration: configuration)
        if let fused = trainer.fusedFinalLayer {
            printToStandardError("note: the final layer '\(fused)' is fused into the \(loss.rawValue) loss while training (kept in the output)")
        }
        let frozen = loaded.model.layers.filter { $0.kind == .dense && !trainer.trainedLayers.contains($0.name) }.map(\.name)
        if !frozen.isEmpty { printToStandardError("note: frozen layers: \(frozen.joined(separator: ", "))") }

        let run = FinetuneRun(trainer: trainer, training: training, validation: validation, epochs: hyperparameters.epochs,
                              stepsPerEpoch: stepsPerEpoch, logPath: log)
        let interrupted = try run.train()

        try ModelIO.save(trainer.model, to: output)
        if let plot {
            let svg = run.plot(title: "\(loaded.model.info.name): \(loss.rawValue), \(hyperparameters.optimizer.rawValue) lr \(hyperparameters.lr)")
            try AtomicFileWriter.write(Array(svg.utf8), to: plot)
        }
        printToStandardError("wrote \(output) after \(trainer.state.globalStep) steps (\(trainer.state.epoch) epochs)")
        if interrupted {
            printToStandardError("stopped by Ctrl-C after a finished step; the model so far was saved")
            throw ExitCode(130)
        }
    }
}

/// Training data as the trainer takes it, with the splits `finetune` needs.
struct FinetuneData {
    var data: TrainingData
    var rows: Int { data.rows }

    /// Reads `path`; for cross-entropy, float class ids (from a CSV) become integer ids.
    static func load(path: String, target: String?, loss: LossFunction) throws -> FinetuneData {
        let contents = try TrainingDataFile.read(path: path, target: target)
        let targets = contents.targets
        if loss == .crossEntropy, targets.dtype.isFloatingPoint, targets.shape.rank == 1 {
            let values = targets.floatValues()
            guard let bad = values.firstIndex(where: { $0 != $0.rounded() || $0 < 0 }) else {
                let ids = values.map { Int64($0) }
                return FinetuneData(data: try TrainingData(inputs: contents.inputs.floatValues(), features: contents.inputs.shape.dimensions[1],
                                                           targets: .classes(ids)))
            }
            throw ModelFileError(.invalidRequest, "cross-entropy needs class ids (0, 1, 2, …) or probability rows; target row \(bad) is \(values[bad])", path: path)
        }
        return FinetuneData(data: try TrainingData(inputs: contents.inputs, targets: targets))
    }

    /// The first rows for training and the last `fraction` of them for validation.
    func splitting(holdOut fraction: Double) throws -> (FinetuneData, FinetuneData) {
        let held = Int((Double(rows) * fraction).rounded())
        guard held >= 1, held < rows else {
            throw ValidationError("--val-split \(fraction) of \(rows) rows leaves no rows for training or validation.")
        }
        let kept = rows - held
        return (try slice(0..<kept), try slice(kept..<rows))
    }

    /// Rows `range`.
    func slice(_ range: Range<Int>) throws -> FinetuneData {
        let features = data.features
        let inputs = Array(data.inputs[(range.lowerBound * features)..<(range.upperBound * features)])
        let targets: TrainingTargets
        switch data.targets {
        case .classes(let ids): targets = .classes(Array(ids[range]))
        case .values(let values, let columns):
            targets = .values(Array(values[(range.lowerBound * columns)..<(range.upperBound * columns)]), columns: columns)
        }
        return FinetuneData(data: try TrainingData(inputs: inputs, features: features, targets: targets))
    }
}
