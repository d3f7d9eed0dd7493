import XCTest
import ModelKitCore
import ModelKitTraining

final class TrainingStateJSONTests: XCTestCase {
    /// A diverged run (NaN or infinite losses) must still checkpoint and resume.
    func test_nonFiniteLossesRoundTrip() throws {
        let state = TrainingState(epoch: 1, stepInEpoch: 2, globalStep: 12, shuffleState: [1, 2, 3, 4], dropoutState: [5, 6, 7, 8],
                                  stepLosses: [0.5, .nan, .infinity, -.infinity], epochMeanLosses: [.nan])
        let text = JSONWriter().string(state.jsonValue)
        let back = try TrainingState(json: try JSONValue.parse(text))
        XCTAssertEqual(back.stepLosses[0], 0.5)
        XCTAssertTrue(back.stepLosses[1].isNaN)
        XCTAssertEqual(back.stepLosses[2], .infinity)
        XCTAssertEqual(back.stepLosses[3], -.infinity)
        XCTAssertTrue(back.epochMeanLosses[0].isNaN)
        XCTAssertEqual(back.globalStep, 12)
        XCTAssertThrowsError(try TrainingState(json: try JSONValue.parse(text.replacingOccurrences(of: "\"nan\"", with: "\"oops\""))))
    }
}
