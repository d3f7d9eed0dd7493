import Foundation
import ModelKitCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shows training progress on standard error: a bar redrawn in place on a terminal, plain lines otherwise (CI logs,
/// pipes), so that logs stay readable.
final class TrainingProgress {
    private let isTerminal: Bool
    private let totalEpochs: Int
    private let stepsPerEpoch: Int
    private var lastDraw = 0.0
    private let started = Date()

    init(epochs: Int, stepsPerEpoch: Int, forceTerminal: Bool? = nil) {
        isTerminal = forceTerminal ?? (isatty(STDERR_FILENO) == 1)
        totalEpochs = epochs
        self.stepsPerEpoch = stepsPerEpoch
    }

    /// After each step; redraws at most ten times a second.
    func step(epoch: Int, stepInEpoch: Int, loss: Double, accuracy: Double?, samplesPerSecond: Double) {
        guard isTerminal else { return }
        let now = Date().timeIntervalSince(started)
        guard now - lastDraw >= 0.1 || stepInEpoch == stepsPerEpoch else { return }
        lastDraw = now
        let fraction = stepsPerEpoch == 0 ? 1 : Double(stepInEpoch) / Double(stepsPerEpoch)
        let filled = Int((fraction * 24).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: 24 - filled)
        var line = "epoch \(epoch)/\(totalEpochs) \(bar) \(stepInEpoch)/\(stepsPerEpoch)  loss \(Self.format(loss))"
        if let accuracy { line += "  acc \(String(format: "%.3f", accuracy))" }
        line += "  \(Self.rate(samplesPerSecond))"
        write("\r\u{1B}[2K" + line)
    }

    /// At the end of each epoch: one permanent line.
    func epochFinished(epoch: Int, step: Int, loss: Double, accuracy: Double?, validationLoss: Double?,
                       validationAccuracy: Double?, samplesPerSecond: Double) {
        var line = "epoch \(epoch)/\(totalEpochs)  step \(step)  loss \(Self.format(loss))"
        if let accuracy { line += "  accuracy \(String(format: "%.4f", accuracy))" }
        if let validationLoss { line += "  val_loss \(Self.format(validationLoss))" }
        if let validationAccuracy { line += "  val_accuracy \(String(format: "%.4f", validationAccuracy))" }
        line += "  \(Self.rate(samplesPerSecond))"
        write((isTerminal ? "\r\u{1B}[2K" : "") + line + "\n")
    }

    /// A message on its own line (clearing a bar in progress).
    func message(_ text: String) {
        write((isTerminal ? "\r\u{1B}[2K" : "") + MessageText.oneLine(text) + "\n")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func format(_ value: Double) -> String { String(format: "%.6g", value) }

    static func rate(_ samplesPerSecond: Double) -> String {
        samplesPerSecond >= 10_000 ? String(format: "%.1fk samples/s", samplesPerSecond / 1000)
                                   : String(format: "%.0f samples/s", samplesPerSecond)
    }
}

/// Ctrl-C during training: the first one asks the loop to finish its current step and save; a second one ends
/// the process at once (the default action is restored after the first).
enum InterruptRequest {
    nonisolated(unsafe) private static var requested: sig_atomic_t = 0

    static func install() {
        requested = 0
        signal(SIGINT) { _ in
            InterruptRequest.requested = 1
            signal(SIGINT, SIG_DFL)
        }
    }

    static var isRequested: Bool { requested != 0 }

    static func uninstall() { signal(SIGINT, SIG_DFL) }
}
