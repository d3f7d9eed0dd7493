import Foundation

/// Draws training and validation loss curves as a standalone SVG (`finetune --plot FILE.svg`): no fonts or scripts
/// to load, so it opens in any browser and diffs as text.
struct LossPlot {
    /// One curve: points `(step, loss)`.
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        /// Draw a dot at every point (for sparse series such as one validation loss per epoch).
        var markers: Bool
    }

    var title: String
    var xLabel = "step"
    var yLabel = "loss"
    var series: [Series]

    private let width = 720.0, height = 420.0
    private let left = 70.0, right = 20.0, top = 40.0, bottom = 50.0

    init(title: String, series: [Series]) {
        self.title = title
        self.series = series
    }

    func svg() -> String {
        let finite = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xs = finite.map(\.x), ys = finite.map(\.y)
        let xRange = Self.niceRange(xs.min() ?? 0, xs.max() ?? 1)
        let yRange = Self.niceRange(min(ys.min() ?? 0, 0), ys.max() ?? 1)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - xRange.lower) / (xRange.upper - xRange.lower) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - (y - yRange.lower) / (yRange.upper - yRange.lower) * plotHeight }

        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Self.fmt(width / 2))" y="22" text-anchor="middle" font-size="15">\(Self.escape(title))</text>

        """
        for tick in Self.ticks(yRange) {
            let y = py(tick)
            out += "<line x1=\"\(Self.fmt(left))\" y1=\"\(Self.fmt(y))\" x2=\"\(Self.fmt(width - right))\" y2=\"\(Self.fmt(y))\" stroke=\"#e4e4e4\"/>\n"
            out += "<text x=\"\(Self.fmt(left - 6))\" y=\"\(Self.fmt(y + 4))\" text-anchor=\"end\">\(Self.label(tick))</text>\n"
        }
        for tick in Self.ticks(xRange) {
            let x = px(tick)
            out += "<line x1=\"\(Self.fmt(x))\" y1=\"\(Self.fmt(top + plotHeight))\" x2=\"\(Self.fmt(x))\" y2=\"\(Self.fmt(top + plotHeight + 5))\" stroke=\"#555\"/>\n"
            out += "<text x=\"\(Self.fmt(x))\" y=\"\(Self.fmt(top + plotHeight + 18))\" text-anchor=\"middle\">\(Self.label(tick))</text>\n"
        }
        out += "<rect x=\"\(Self.fmt(left))\" y=\"\(Self.fmt(top))\" width=\"\(Self.fmt(plotWidth))\" height=\"\(Self.fmt(plotHeight))\" fill=\"none\" stroke=\"#555\"/>\n"
        out += "<text x=\"\(Self.fmt(left + plotWidth / 2))\" y=\"\(Self.fmt(height - 10))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        out += "<text x=\"16\" y=\"\(Self.fmt(top + plotHeight / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(Self.fmt(top + plotHeight / 2)))\">\(Self.escape(yLabel))</text>\n"
        for (index, curve) in series.enumerated() {
            let points = curve.points.filter { $0.x.isFinite && $0.y.isFinite }
            if points.count > 1 {
                let path = points.map { "\(Self.fmt(px($0.x))),\(Self.fmt(py($0.y)))" }.joined(separator: " ")
                out += "<polyline fill=\"none\" stroke=\"\(curve.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            }
            if curve.markers || points.count == 1 {
                for point in points {
                    out += "<circle cx=\"\(Self.fmt(px(point.x)))\" cy=\"\(Self.fmt(py(point.y)))\" r=\"3\" fill=\"\(curve.color)\"/>\n"
                }
            }
            let legendY = top + 16 + Double(index) * 16
            out += "<line x1=\"\(Self.fmt(width - right - 150))\" y1=\"\(Self.fmt(legendY - 4))\" x2=\"\(Self.fmt(width - right - 130))\" y2=\"\(Self.fmt(legendY - 4))\" stroke=\"\(curve.color)\" stroke-width=\"2\"/>\n"
            out += "<text x=\"\(Self.fmt(width - right - 124))\" y=\"\(Self.fmt(legendY))\">\(Self.escape(curve.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    // MARK: Scales

    /// A range padded out to round numbers; never empty.
    static func niceRange(_ low: Double, _ high: Double) -> (lower: Double, upper: Double) {
        var (low, high) = (low, high)
        if !(high > low) { (low, high) = (low - 0.5, high + 0.5) }
        let step = niceStep((high - low) / 5)
        return ((low / step).rounded(.down) * step, (high / step).rounded(.up) * step)
    }

    /// 1, 2 or 5 times a power of ten, near `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let power = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / power
        return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power
    }

    static func ticks(_ range: (lower: Double, upper: Double)) -> [Double] {
        let step = niceStep((range.upper - range.lower) / 5)
        var ticks: [Double] = []
        var value = range.lower
        while value <= range.upper + step / 2 && ticks.count < 20 {
            ticks.append(value)
            value += step
        }
        return ticks
    }

    static func label(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e7 { return String(Int(value)) }
        return String(format: "%.4g", value)
    }

    static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
