#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How the learning rate changes over optimizer steps (PyTorch's schedulers stepped once per optimizer step).
///
/// `k` is the 0-based optimizer step; ``learningRate(base:step:)`` is the rate step `k`'s update uses.
public enum LearningRateSchedule: Sendable, Equatable {
    /// `lr` at every step.
    case constant
    /// `StepLR`: `lr · gamma^⌊k / stepSize⌋`.
    case step(stepSize: Int, gamma: Double)
    /// `CosineAnnealingLR`: `etaMin + (lr − etaMin)·(1 + cos(π·k / tMax))/2`.
    case cosine(tMax: Int, etaMin: Double)
    /// `LinearLR`: `lr · (start + (end − start)·min(k, warmupSteps)/warmupSteps)`.
    case warmupLinear(startFactor: Double, endFactor: Double, warmupSteps: Int)

    /// The learning rate of 0-based optimizer step `step`, in float64 (closed forms; PyTorch's recursive forms
    /// differ by at most 2e-17).
    public func learningRate(base: Double, step: Int) -> Double {
        switch self {
        case .constant:
            return base
        case .step(let stepSize, let gamma):
            return base * pow(gamma, Double(step / max(stepSize, 1)))
        case .cosine(let tMax, let etaMin):
            return etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(step) / Double(max(tMax, 1)))) / 2
        case .warmupLinear(let start, let end, let warmupSteps):
            guard warmupSteps > 0 else { return base * end }
            return base * (start + (end - start) * Double(min(step, warmupSteps)) / Double(warmupSteps))
        }
    }

    /// Checks the parameters.
    ///
    /// - Throws: ``TrainingError/invalidConfiguration(name:reason:)`` for a step size or `tMax` below 1, a negative
    ///   warm-up length, or non-finite factors.
    public func validate() throws(TrainingError) {
        switch self {
        case .constant: return
        case .step(let stepSize, let gamma):
            guard stepSize >= 1 else { throw .invalidConfiguration(name: "schedule.step_size", reason: "\(stepSize) must be at least 1") }
            guard gamma.isFinite, gamma > 0 else { throw .invalidConfiguration(name: "schedule.gamma", reason: "\(gamma) must be a positive number") }
        case .cosine(let tMax, let etaMin):
            guard tMax >= 1 else { throw .invalidConfiguration(name: "schedule.t_max", reason: "\(tMax) must be at least 1") }
            guard etaMin.isFinite, etaMin >= 0 else { throw .invalidConfiguration(name: "schedule.eta_min", reason: "\(etaMin) must be a non-negative number") }
        case .warmupLinear(let start, let end, let steps):
            guard steps >= 0 else { throw .invalidConfiguration(name: "schedule.warmup_steps", reason: "\(steps) must not be negative") }
            guard start.isFinite, end.isFinite, start > 0, end > 0 else {
                throw .invalidConfiguration(name: "schedule.start_factor", reason: "factors \(start), \(end) must be positive numbers")
            }
        }
    }
}
