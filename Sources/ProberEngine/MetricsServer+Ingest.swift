import ProberStorage

extension ExpositionStream {
    /// One of the recorder's ingest histograms (`IngestStatistics`) as a Prometheus histogram in seconds.
    static func render(_ histogram: IngestLagHistogram, _ name: String, _ help: String, into out: inout Exposition) {
        out.family(name, "histogram", help)
        for (bound, count) in histogram.cumulative {
            out.sample(name + "_bucket", ["le": Exposition.number(Double(bound) / 1e6)], Double(count))
        }
        out.sample(name + "_bucket", ["le": "+Inf"], Double(histogram.count))
        out.sample(name + "_sum", [:], Double(histogram.sum) / 1e6)
        out.sample(name + "_count", [:], Double(histogram.count))
    }
}
