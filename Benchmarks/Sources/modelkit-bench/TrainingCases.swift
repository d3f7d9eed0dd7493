import Foundation
import ModelKit

/// Issue 6's training-step rows: one `Trainer.trainStep(batchX:batchY:)` (forward, loss, backward, optimizer update)
/// on the shared weights and batch, in-process, the trainer and its workspace made before the clock starts.
///
/// The check comes first, on a fresh trainer: the losses it reports before the first and the second step must equal
/// the float64 reference `peers.py prepare --train` computed (the second depends on the gradients and the update).
func runTrainCase(_ trainCase: BenchData.TrainCase, data: BenchData, budget: Double) throws -> Bool {
    let expected = try data.array("\(trainCase.name).losses.npy").doubleValues()
    let batch = try TrainingBatch(trainCase, data: data)
    let checked = try makeTrainer(trainCase, data: data)
    var losses: [Double] = []
    for _ in expected { losses.append(try checked.trainStep(batchX: batch.inputs, batchY: batch.targets).loss) }
    var worst = 0.0
    for (loss, reference) in zip(losses, expected) {
        worst = max(worst, loss.isFinite ? abs(loss - reference) / max(1, abs(reference)) : .infinity)
    }
    let ok = worst <= data.tolerance
    Output.emit(["kind": "check", "engine": "modelkit", "case": trainCase.name, "ok": ok,
                 "max_error": worst.isFinite ? worst : 1e30, "losses": losses, "expected": expected])
    guard ok else { return false }

    let trainer = try makeTrainer(trainCase, data: data)
    let times = try measure(budget: budget) { _ = try trainer.trainStep(batchX: batch.inputs, batchY: batch.targets) }
    Output.timing(case: trainCase.name, times)
    return true
}

/// A case's batch as `Trainer` takes it: class ids for cross-entropy, float rows otherwise.
struct TrainingBatch {
    let inputs: [Float]
    let targets: TrainingTargets

    init(_ trainCase: BenchData.TrainCase, data: BenchData) throws {
        inputs = try data.array("\(trainCase.data).x.npy").floatValues()
        let targets = try data.array("\(trainCase.data).y.npy")
        if targets.dtype == .int64 {
            let raw = targets.bytes
            self.targets = .classes((0..<targets.elementCount).map {
                Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))
            })
        } else {
            self.targets = .values(targets.floatValues(), columns: trainCase.network.widths.last ?? 0)
        }
    }
}

/// A trainer for the case's network (shared weights; a final softmax is fused into cross-entropy, as in training)
/// with the case's loss and optimizer (PyTorch's defaults for everything else).
func makeTrainer(_ trainCase: BenchData.TrainCase, data: BenchData) throws -> Trainer {
    guard let loss = LossFunction(rawValue: trainCase.loss) else { throw BenchError("unknown loss \(trainCase.loss)") }
    let optimizer: OptimizerConfiguration
    switch trainCase.optimizer {
    case "sgd": optimizer = .sgd(learningRate: trainCase.learningRate)
    case "adam": optimizer = .adam(learningRate: trainCase.learningRate)
    default: throw BenchError("unknown optimizer \(trainCase.optimizer)")
    }
    let configuration = TrainingConfiguration(loss: loss, optimizer: optimizer, batchSize: max(1, trainCase.batch))
    let trainer = try Trainer(model: try data.model(of: trainCase.network), configuration: configuration)
    guard trainCase.loss != "cross-entropy" || trainer.fusedFinalLayer != nil else {
        throw BenchError("\(trainCase.name): the final softmax was not fused into the cross-entropy loss")
    }
    return trainer
}
