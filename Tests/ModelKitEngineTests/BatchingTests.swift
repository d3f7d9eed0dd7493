import ModelKit
import ModelKitTestSupport
import XCTest

/// Batch sizes: one row, chunked large batches, and many callers at once.
final class BatchingTests: XCTestCase {
    private let widths = [400, 200, 100, 2]

    func testBatchOneMatchesReference() throws {
        let model = SampleModels.dense(widths, layout: .outIn, finalActivation: .softmax)
        let input = EngineFixtures.values(400, seed: 1)
        assertMatchesReference(try InferenceSession(model: model).predict(input, batchSize: 1),
                               ReferenceForward.run(model, [input.map(Double.init)]))
    }

    func testEveryRowOfABatchEqualsThatRowAlone() throws {
        let session = try InferenceSession(model: SampleModels.dense(widths, layout: .inOut))
        let input = EngineFixtures.values(50 * 400, seed: 2)
        let batch = try session.predict(input, batchSize: 50)
        for row in [0, 17, 49] {
            let single = try session.predict(Array(input[(row * 400)..<((row + 1) * 400)]), batchSize: 1)
            assertClose(Array(batch[(row * 2)..<((row + 1) * 2)]), single, rtol: 1e-6, atol: 1e-7, "row \(row)")
        }
    }

    func testLargeBatchesAreStreamedInChunks() throws {
        let model = SampleModels.dense([24, 40, 16, 10], layout: .outIn, finalActivation: .logSoftmax)
        let rows = 2_500
        let input = EngineFixtures.values(rows * 24, seed: 3)
        let expected = ReferenceForward.run(model, EngineFixtures.rows(input, width: 24))
        // 2500 rows with the default chunk of 1024 (1024 + 1024 + 452), and with chunks of 7 (an odd remainder).
        for maximum in [1024, 7, 1] {
            let session = try InferenceSession(model: model, options: InferenceOptions(maximumBatchSize: maximum))
            let count = maximum == 1 ? 30 : rows
            assertMatchesReference(try session.predict(Array(input[0..<(count * 24)]), batchSize: count),
                                   Array(expected[0..<count]), "chunks of \(maximum)")
        }
    }

    func testChunkedEqualsUnchunked() throws {
        let model = SampleModels.dense(widths, layout: .inOut)
        let input = EngineFixtures.values(300 * 400, seed: 4)
        let whole = try InferenceSession(model: model, options: InferenceOptions(maximumBatchSize: 4096)).predict(input, batchSize: 300)
        let chunked = try InferenceSession(model: model, options: InferenceOptions(maximumBatchSize: 64)).predict(input, batchSize: 300)
        assertClose(chunked, whole, rtol: 1e-6, atol: 1e-7)
    }

    func testSingleThreadedEqualsMultiThreaded() throws {
        let model = SampleModels.dense([256, 512, 384, 8], layout: .outIn)
        let input = EngineFixtures.values(96 * 256, seed: 5)
        let one = try InferenceSession(model: model, options: InferenceOptions(threads: 1)).predict(input, batchSize: 96)
        let all = try InferenceSession(model: model).predict(input, batchSize: 96)
        assertClose(all, one, rtol: 1e-6, atol: 1e-7)
        // The float64 loop is slow in a debug build: the first 8 rows suffice against the reference.
        assertMatchesReference(Array(all[0..<(8 * 8)]), ReferenceForward.run(model, EngineFixtures.rows(Array(input[0..<(8 * 256)]), width: 256)))
    }

    func testConcurrentPredictionsEqualSerialOnes() async throws {
        let model = SampleModels.dense(widths, layout: .outIn, finalActivation: .softmax)
        let session = try InferenceSession(model: model)
        let batches = [1, 50, 3, 200, 1, 1024, 7, 64]
        let inputs = batches.enumerated().map { EngineFixtures.values($0.element * 400, seed: UInt64(100 + $0.offset)) }
        let serial = try zip(inputs, batches).map { try session.predict($0, batchSize: $1) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for round in 0..<4 {
                for index in batches.indices {
                    group.addTask {
                        // Several rounds so that tasks overlap; each returns its own index.
                        _ = round
                        return (index, try session.predict(inputs[index], batchSize: batches[index]))
                    }
                }
            }
            var results: [Int: [[Float]]] = [:]
            for try await (index, output) in group { results[index, default: []].append(output) }
            return results
        }
        for index in batches.indices {
            for output in concurrent[index] ?? [] {
                assertClose(output, serial[index], rtol: 1e-6, atol: 1e-7, "batch \(batches[index])")
            }
            XCTAssertEqual(concurrent[index]?.count, 4)
        }
    }

    func testRowsAPI() throws {
        let model = SampleModels.dense([5, 4, 3])
        let session = try InferenceSession(model: model)
        let rows: [[Float]] = [[1, 2, 3, 4, 5], [-1, 0, 1, 0, -1]]
        let output = try session.predict(rows)
        XCTAssertEqual(output.count, 2)
        assertMatchesReference(output.flatMap { $0 }, ReferenceForward.run(model, rows.map { $0.map(Double.init) }))
    }
}
