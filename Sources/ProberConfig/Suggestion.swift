import ProberCore

/// "Did you mean" for near misses: a key a few typos, a case or a `-`/`_` away from a known one.
enum Suggestion {
    /// The known key closest to `word`, when it is close enough to be a likely typo.
    static func nearest(to word: String, in candidates: [String]) -> String? {
        let normalized = normalize(word)
        if let exact = candidates.first(where: { normalize($0) == normalized }) { return exact }
        let limit = word.count <= 4 ? 1 : 2
        var best: (key: String, distance: Int)?
        for candidate in candidates {
            let d = distance(normalized, normalize(candidate))
            if d <= limit, d < (best?.distance ?? .max) { best = (candidate, d) }
        }
        return best?.key
    }

    private static func normalize(_ s: String) -> String {
        s.lowercased().replacingOccurrences(of: "-", with: "_")
    }

    static func distance(_ a: String, _ b: String) -> Int { Suggest.distance(a, b) }
}
