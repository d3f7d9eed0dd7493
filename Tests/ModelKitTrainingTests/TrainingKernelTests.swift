@testable import ModelKitTraining
import XCTest

/// The AVX-512 training kernels (`CModelKitKernels/training.c`): the products against a float64 reference on edge
/// shapes (tails of every tile and lane block, parts split over threads), and the optimizer lanes against torch's
/// scalar formula bit for bit (`Specs/training.md`, TR-OPT-SGD, TR-OPT-ADAM).
final class TrainingKernelTests: XCTestCase {
    private struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 1000
        }
        mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
    }

    private static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (3, 5, 7), (4, 4, 16), (5, 17, 15), (7, 65, 17), (13, 37, 33), (50, 200, 400), (50, 2, 100),
        (100, 200, 50), (61, 130, 9), (2, 300, 70),
    ]

    private func requireKernels() throws {
        try XCTSkipUnless(TrainingKernels.isAvailable, "the training kernels need AVX-512F; this CPU uses BLAS")
    }

    func testProductsMatchFloat64Reference() throws {
        try requireKernels()
        var random = Generator(state: 7)
        let job = ProductJob()
        for (m, n, k) in Self.shapes {
            for kind in [ProductTask.Kind.broadcast, .dot] {
                for (useBias, relu, useGate, transposedA) in [(false, false, false, false), (true, true, false, true),
                                                              (true, false, true, false), (false, true, true, true)] {
                    let aTransposed = kind == .broadcast && transposedA
                    let a = random.values(m * k), b = random.values(n * k), bias = random.values(n)
                    let gate = random.values(m * n)
                    var c = [Float](repeating: .nan, count: m * n)
                    // broadcast: A(i, p) = a[i·k + p] or, transposed, a[p·m + i]; B is [k, n]. dot: B is [n, k].
                    let aRow = aTransposed ? 1 : k, aColumn = aTransposed ? m : 1
                    a.withUnsafeBufferPointer { a in
                        b.withUnsafeBufferPointer { b in
                            bias.withUnsafeBufferPointer { bias in
                                gate.withUnsafeBufferPointer { gate in
                                    c.withUnsafeMutableBufferPointer { c in
                                        job.append(ProductTask(kind: kind, m: m, n: n, k: k, a: a.baseAddress!, aRow: aRow,
                                                               aColumn: aColumn, b: b.baseAddress!, ldb: kind == .dot ? k : n,
                                                               c: c.baseAddress!, ldc: n, bias: useBias ? bias.baseAddress : nil,
                                                               relu: relu, gate: useGate ? gate.baseAddress : nil))
                                        job.run()
                                    }
                                }
                            }
                        }
                    }
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0
                            for p in 0..<k {
                                let left = Double(a[i * aRow + p * aColumn])
                                let right = Double(kind == .dot ? b[j * k + p] : b[p * n + j])
                                sum += left * right
                            }
                            if useBias { sum += Double(bias[j]) }
                            if relu { sum = max(sum, 0) }
                            if useGate, !(gate[i * n + j] > 0) { sum = 0 }
                            let got = Double(c[i * n + j])
                            guard abs(got - sum) <= 1e-5 * max(1, Double(k)) else {
                                return XCTFail("\(kind) \(m)×\(n)×\(k) bias \(useBias) relu \(relu) gate \(useGate) transposed \(aTransposed): C[\(i), \(j)] = \(got), expected \(sum)")
                            }
                        }
                    }
                }
            }
        }
    }

    func testAdamLanesMatchTorchScalarOrder() throws {
        try requireKernels()
        for (count, shrink, decay) in [(37, Float?.none, Float(0)), (1000, Float(0.999), Float(0)), (53, nil, Float(0.01))] {
            var random = Generator(state: UInt64(count))
            var p = random.values(count), m = random.values(count).map { $0 / 10 }
            var v = random.values(count).map { $0 * $0 / 100 }
            let g = random.values(count)
            var (ep, em, ev) = (p, m, v)
            let w1: Float = 0.1, b2: Float = 0.999, w2: Float = 0.001, c2: Float = 0.0447, eps: Float = 1e-8
            let step: Float = 0.0031
            for i in 0..<count {
                var pi = ep[i]
                if let shrink { pi = pi * shrink }
                let d: Float = decay != 0 ? g[i] + decay * pi : g[i]
                let mi: Float = em[i] + w1 * (d - em[i])
                let vi: Float = ev[i] * b2 + (w2 * d) * d
                let denominator: Float = vi.squareRoot() / c2 + eps
                let change: Float = mi / denominator
                em[i] = mi
                ev[i] = vi
                ep[i] = pi + (-step) * change
            }
            UpdateKernels.adam(0..<count, p: &p, g: g, m: &m, v: &v, shrink: shrink, decay: decay, weight1: w1, beta2: b2,
                               weight2: w2, correction2Root: c2, eps: eps, stepSize: step)
            XCTAssertEqual(p.map(\.bitPattern), ep.map(\.bitPattern), "parameters, \(count) elements")
            XCTAssertEqual(m.map(\.bitPattern), em.map(\.bitPattern), "exp_avg, \(count) elements")
            XCTAssertEqual(v.map(\.bitPattern), ev.map(\.bitPattern), "exp_avg_sq, \(count) elements")
        }
    }

    func testSGDLanesMatchTorchScalarOrder() throws {
        try requireKernels()
        for (count, momentum, first, nesterov, decay) in [(37, Float(0), false, false, Float(0)), (100, 0.9, true, false, 0.01),
                                                           (45, 0.9, false, true, 0), (1000, 0.5, false, false, 0.1)] {
            var random = Generator(state: UInt64(count) + 99)
            var p = random.values(count), buffer = random.values(count)
            let g = random.values(count)
            var (ep, eb) = (p, buffer)
            let keep: Float = 0.75, rate: Float = 0.1
            for i in 0..<count {
                var d = decay != 0 ? g[i] + decay * ep[i] : g[i]
                if momentum != 0 {
                    eb[i] = first ? d : eb[i] * momentum + keep * d
                    d = nesterov ? d + momentum * eb[i] : eb[i]
                }
                ep[i] = ep[i] + (-rate) * d
            }
            buffer.withUnsafeMutableBufferPointer { buffer in
                UpdateKernels.sgd(0..<count, p: &p, g: g, buffer: momentum != 0 ? buffer.baseAddress : nil, first: first,
                                  decay: decay, momentum: momentum, keep: keep, nesterov: nesterov, learningRate: rate)
            }
            XCTAssertEqual(p.map(\.bitPattern), ep.map(\.bitPattern), "parameters, \(count) elements")
            if momentum != 0 { XCTAssertEqual(buffer.map(\.bitPattern), eb.map(\.bitPattern), "momentum buffer") }
        }
    }
}
