import Foundation
import ModelKit

/// The epoch loop of `finetune`: progress, metrics log, validation, Ctrl-C.
final class FinetuneRun {
    let trainer: Trainer
    let training: FinetuneData
    let validation: FinetuneData?
    let epochs: Int
    let stepsPerEpoch: Int
    let logPath: String?
    /// (global step, loss) after every step; (global step, loss) of the validation set after every epoch.
    private(set) var stepLosses: [(x: Double, y: Double)] = []
    private(set) var validationLosses: [(x: Double, y: Double)] = []
    /// Called after every step with the trainer; returning `false` stops training after this step.
    var afterStep: ((Trainer) throws -> Bool)?
    /// Called after every completed epoch.
    var afterEpoch: ((Trainer) throws -> Void)?
    /// The progress display, while training runs.
    private(set) var progress: TrainingProgress?

    init(trainer: Trainer, training: FinetuneData, validation: FinetuneData?, epochs: Int, stepsPerEpoch: Int, logPath: String?) {
        self.trainer = trainer
        self.training = training
        self.validation = validation
        self.epochs = epochs
        self.stepsPerEpoch = stepsPerEpoch
        self.logPath = logPath
        // A resumed run draws its whole history.
        stepLosses = trainer.state.stepLosses.enumerated().map { (Double($0.offset + 1), $0.element) }
    }

    /// Trains until `epochs` epochs are complete; returns `true` when Ctrl-C (or `afterStep`) stopped it early.
    func train() throws -> Bool {
        let progress = TrainingProgress(epochs: epochs, stepsPerEpoch: stepsPerEpoch)
        self.progress = progress
        defer { self.progress = nil }
        let log = try logPath.map { try MetricsLog(path: $0, append: trainer.state.globalStep > 0) }
        defer { log?.close() }
        InterruptRequest.install()
        defer { InterruptRequest.uninstall() }
        var stopped = false
        var hookError: Error?
        while trainer.state.epoch < epochs && !stopped {
            let epochStart = Date()
            var samples = 0
            let result = try trainer.trainEpoch(training.data) { [self] step in
                samples += step.rows
                let state = trainer.state
                let elapsed = max(Date().timeIntervalSince(epochStart), 1e-9)
                stepLosses.append((Double(state.globalStep), step.loss))
                var fields: [(String, JSONValue)] = [
                    ("event", .string("step")), ("epoch", .integer(state.epoch + 1)), ("step", .integer(state.globalStep)),
                    ("loss", .double(step.loss)), ("data_loss", .double(step.dataLoss)), ("lr", .double(step.learningRate)),
                    ("rows", .integer(step.rows)),
                ]
                if let accuracy = step.accuracy { fields.append(("accuracy", .double(accuracy))) }
                if let norm = step.gradientNormBeforeClip { fields.append(("grad_norm", .double(norm))) }
                log?.record(fields)
                progress.step(epoch: state.epoch + 1, stepInEpoch: state.stepInEpoch, loss: step.loss, accuracy: step.accuracy,
                              samplesPerSecond: Double(samples) / elapsed)
                do {
                    if let afterStep, try !afterStep(trainer) { stopped = true }
                } catch {
                    hookError = error
                    stopped = true
                }
                if InterruptRequest.isRequested { stopped = true }
                return !stopped
            }
            if let hookError { throw hookError }
            guard result.completed else { break }
            let rate = Double(samples) / max(Date().timeIntervalSince(epochStart), 1e-9)
            let evaluation = try validation.map { try trainer.evaluate($0.data) }
            if let evaluation { validationLosses.append((Double(trainer.state.globalStep), evaluation.loss)) }
            progress.epochFinished(epoch: trainer.state.epoch, step: trainer.state.globalStep, loss: result.meanLoss,
                                   accuracy: result.accuracy, validationLoss: evaluation?.loss,
                                   validationAccuracy: evaluation?.accuracy, samplesPerSecond: rate)
            var fields: [(String, JSONValue)] = [("event", .string("epoch")), ("epoch", .integer(trainer.state.epoch)),
                                                 ("step", .integer(trainer.state.globalStep)), ("loss", .double(result.meanLoss))]
            if let accuracy = result.accuracy { fields.append(("accuracy", .double(accuracy))) }
            if let evaluation {
                fields.append(("val_loss", .double(evaluation.loss)))
                if let accuracy = evaluation.accuracy { fields.append(("val_accuracy", .double(accuracy))) }
            }
            log?.record(fields)
            try afterEpoch?(trainer)
        }
        return stopped && trainer.state.epoch < epochs
    }

    /// The loss curves as SVG.
    func plot(title: String) -> String {
        LossPlot(title: title, series: [
            .init(name: "training (per step)", color: "#1f77b4", points: stepLosses, markers: false),
            .init(name: "validation (per epoch)", color: "#d62728", points: validationLosses, markers: true),
        ]).svg()
    }
}
