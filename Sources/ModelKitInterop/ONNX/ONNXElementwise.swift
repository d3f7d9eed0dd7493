import Foundation
import ModelKitCore

/// Recognises a block of element-wise nodes that together compute one activation: GELU written out with `Erf`
/// (`x/√2 → Erf → +1 → ·x → ·0.5`, as exporters emit before opset 20) or with `Tanh` (the approximation), SiLU as
/// `x · Sigmoid(x)`.
///
/// Exporters spell these formulas in many equivalent ways (`Div` by √2 or `Mul` by 1/√2, the `0.5` first or last,
/// `Pow(x, 3)` or `x·x·x`), so the block is recognised by what it computes rather than by its spelling: it must
/// be a small graph of element-wise ops whose only non-constant input is the running value and whose constants are
/// scalars, and it is evaluated in double precision on a dense grid of probe values and compared with each known
/// activation. Such a block is a fixed scalar function of one variable, so agreeing with GELU to 1e-5 on 641 points
/// over [-10, 10] (where GELU exact and GELU tanh still differ by up to 5e-4) identifies it.
enum ONNXElementwise {
    /// The ops a block may contain.
    static let ops: Set<String> = ["Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "Sigmoid", "Exp", "Neg",
                                   "Reciprocal"]

    /// Where an op's operand comes from.
    enum Operand {
        /// The block's input (the running value).
        case input
        /// The result of an earlier step.
        case step(Int)
        /// A scalar constant.
        case constant(Double)
    }

    /// One node of a block.
    struct Step {
        var op: String
        var operands: [Operand]
    }

    /// An activation a block may compute.
    struct Candidate: Sendable {
        var kind: LayerKind
        var attributes: JSONObject
        var function: @Sendable (Double) -> Double
    }

    static let candidates: [Candidate] = [
        Candidate(kind: .gelu, attributes: JSONObject([("approximate", .string("none"))])) { x in
            0.5 * x * (1 + erf(x / 2.0.squareRoot()))
        },
        Candidate(kind: .gelu, attributes: JSONObject([("approximate", .string("tanh"))])) { x in
            0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        },
        Candidate(kind: .silu, attributes: JSONObject()) { x in x / (1 + exp(-x)) },
    ]

    /// The probe points: [-10, 10] in steps of 1/32.
    static let probes: [Double] = (-320...320).map { Double($0) / 32 }

    /// The activation `steps` compute when their result is step `result`, or `nil`.
    static func identify(_ steps: [Step], result: Int) -> Candidate? {
        let outputs = probes.map { evaluate(steps, result: result, at: $0) }
        return candidates.first { candidate in
            zip(probes, outputs).allSatisfy { x, value in
                let expected = candidate.function(x)
                guard let value, value.isFinite else { return false }
                return abs(value - expected) <= 1e-5 * max(1, abs(expected))
            }
        }
    }

    /// The value of step `result` when the block's input is `x` (`nil` for an op with the wrong operand count).
    static func evaluate(_ steps: [Step], result: Int, at x: Double) -> Double? {
        var values: [Double] = []
        values.reserveCapacity(steps.count)
        for step in steps {
            var operands: [Double] = []
            for operand in step.operands {
                switch operand {
                case .input: operands.append(x)
                case .constant(let value): operands.append(value)
                case .step(let index):
                    guard index < values.count else { return nil }
                    operands.append(values[index])
                }
            }
            guard let value = apply(step.op, operands) else { return nil }
            values.append(value)
        }
        return result < values.count ? values[result] : nil
    }

    private static func apply(_ op: String, _ operands: [Double]) -> Double? {
        if operands.count == 2 {
            let (a, b) = (operands[0], operands[1])
            switch op {
            case "Add": return a + b
            case "Sub": return a - b
            case "Mul": return a * b
            case "Div": return a / b
            case "Pow": return pow(a, b)
            default: return nil
            }
        }
        guard operands.count == 1 else { return nil }
        let a = operands[0]
        switch op {
        case "Sqrt": return a.squareRoot()
        case "Erf": return erf(a)
        case "Tanh": return tanh(a)
        case "Sigmoid": return 1 / (1 + exp(-a))
        case "Exp": return exp(a)
        case "Neg": return -a
        case "Reciprocal": return 1 / a
        default: return nil
        }
    }
}
