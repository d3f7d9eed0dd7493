import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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

    @Option(name: .long, help: "Write checkpoints (model, optimizer and training state) into this directory.")
    var checkpointDir: String?

    @Option(name: .long, help: "Checkpoint every N optimizer steps, or every N epochs with a trailing e (e.g. 500 or 1e).")
    var checkpointEvery: CheckpointInterval?

    @Option(name: .long, help: "Keep the newest K checkpoints.")
    var keep: Int = 3

    @Option(name: .long, help: "Checkpoint compression: none, fast (byte-shuffle + Huffman-coded zlib) or best.")
    var compression: CheckpointCompression = .fast

    @Option(name: .long, help: "Continue from the newest valid checkpoint in this directory (or from this checkpoint file).")
    var resume: String?

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
        if checkpointEvery != nil && checkpointDir == nil { throw ValidationError("--checkpoint-every needs --checkpoint-dir.") }
        if checkpointDir != nil && checkpointEvery == nil { throw ValidationError("--checkpoint-dir needs --checkpoint-every N (steps) or Ne (epochs).") }
        guard keep >= 1 else { throw ValidationError("--keep must be at least 1.") }
    }

    mutating func run() throws {
        model = try resolvedModelPath(model)
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
        let modelPrint = try FileFingerprint.of(file: model), dataPrint = try FileFingerprint.of(file: data)
        let trainer: Trainer
        if let resume {
            let point = try CheckpointDirectory.resume(from: resume)
            for warning in point.warnings { printToStandardError(warning.hasPrefix("warning:") ? warning : "warning: \(warning)") }
            for warning in point.checkpoint.fingerprintWarnings(sourceModel: modelPrint, data: dataPrint) {
                printToStandardError("warning: \(warning)")
            }
            try Self.requireSameSettings(point.checkpoint.configuration, configuration, checkpoint: point.path)
            trainer = try point.checkpoint.makeTrainer(configuration: configuration)
            printToStandardError("resuming from \(point.path) at step \(trainer.state.globalStep) (epoch \(trainer.state.epoch + 1), step \(trainer.state.stepInEpoch + 1) of it)")
        } else {
            trainer = try Trainer(model: Checkpoint.removingCheckpointParts(from: loaded.model), configuration: configuration)
        }
        if let fused = trainer.fusedFinalLayer {
            printToStandardError("note: the final layer '\(fused)' is fused into the \(loss.rawValue) loss while training (kept in the output)")
        }
        let frozen = loaded.model.layers.filter { $0.kind == .dense && !trainer.trainedLayers.contains($0.name) }.map(\.name)
        if !frozen.isEmpty { printToStandardError("note: frozen layers: \(frozen.joined(separator: ", "))") }

        let run = FinetuneRun(trainer: trainer, training: training, validation: validation, epochs: hyperparameters.epochs,
                              stepsPerEpoch: stepsPerEpoch, logPath: log)
        // With a file-size limit (ulimit -f), an oversized write must fail with EFBIG, not kill the process.
        signal(SIGXFSZ, SIG_IGN)
        var lastSaved = -1
        var saveCheckpoint: ((Trainer) throws -> Void)?
        if let checkpointDir, let checkpointEvery {
            let directory = try CheckpointDirectory(checkpointDir, keep: keep, compression: compression)
            let save = { (trainer: Trainer) throws in
                guard trainer.state.globalStep != lastSaved else { return }
                let path = try directory.save(Checkpoint(trainer: trainer, sourceModel: modelPrint, data: dataPrint))
                lastSaved = trainer.state.globalStep
                if let progress = run.progress { progress.message("checkpoint: \(path)") } else { printToStandardError("checkpoint: \(path)") }
            }
            saveCheckpoint = save
            switch checkpointEvery {
            case .steps(let every):
                run.afterStep = { trainer in
                    if trainer.state.globalStep % every == 0 || InterruptRequest.isRequested { try save(trainer) }
                    return true
                }
            case .epochs(let every):
                run.afterStep = { trainer in
                    // Ctrl-C between epochs: the finished step is kept in a checkpoint too.
                    if InterruptRequest.isRequested { try save(trainer) }
                    return true
                }
                run.afterEpoch = { trainer in if trainer.state.epoch % every == 0 { try save(trainer) } }
            }
        }
        let interrupted = try run.train()
        // The end of the run (or of an interrupted one) is always a checkpoint, so --resume can extend it.
        try saveCheckpoint?(trainer)

        try ModelIO.save(Checkpoint.removingCheckpointParts(from: trainer.model), to: output)
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

extension FinetuneCommand {
    /// A resumed run must use the checkpoint's settings (more epochs are allowed): anything else would not continue
    /// the same run.
    static func requireSameSettings(_ saved: TrainingConfiguration, _ given: TrainingConfiguration, checkpoint: String) throws {
        var comparable = given
        comparable.epochs = saved.epochs
        // A cosine schedule spans the whole run; more epochs legitimately change its length.
        if case .cosine(_, let etaMin) = given.schedule, case .cosine(let savedMax, let savedEta) = saved.schedule, etaMin == savedEta {
            comparable.schedule = .cosine(tMax: savedMax, etaMin: etaMin)
        }
        guard comparable != saved else { return }
        let savedJSON = saved.jsonValue, givenJSON = comparable.jsonValue
        var differences: [String] = []
        if case .object(let a) = savedJSON, case .object(let b) = givenJSON {
            for key in a.keys where a[key] != b[key] {
                differences.append("\(key): checkpoint \(JSONWriter().string(a[key] ?? .null)), now \(JSONWriter().string(b[key] ?? .null))")
            }
        }
        throw ModelFileError(.invalidRequest, "the training settings differ from the checkpoint's (\(differences.joined(separator: "; "))); resume with the command that wrote it", path: checkpoint)
    }
}

/// `--checkpoint-every N` (optimizer steps) or `Ne` (epochs).
enum CheckpointInterval: ExpressibleByArgument {
    case steps(Int), epochs(Int)

    init?(argument: String) {
        if argument.hasSuffix("e"), let epochs = Int(argument.dropLast()), epochs >= 1 {
            self = .epochs(epochs)
        } else if let steps = Int(argument), steps >= 1 {
            self = .steps(steps)
        } else {
            return nil
        }
    }
}

extension CheckpointCompression: ExpressibleByArgument {}

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
