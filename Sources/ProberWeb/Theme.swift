import Foundation

/// The colours and the style sheet of every page and report: one palette for light and one for dark
/// (`prefers-color-scheme`), each colour at least 4.5:1 against its background (checked by a test).
public enum Theme {
    /// A colour role and its value in the light and the dark palette (`#rrggbb`).
    public struct Colour: Sendable, Equatable {
        public var name: String
        public var light: String
        public var dark: String
    }

    public static let lightBackground = "#ffffff"
    public static let darkBackground = "#0d1117"

    /// Every colour drawn on the page background: text, states, phases.
    public static let colours: [Colour] = [
        Colour(name: "fg", light: "#1f2328", dark: "#e6edf3"),
        Colour(name: "muted", light: "#59636e", dark: "#9198a1"),
        Colour(name: "link", light: "#0550ae", dark: "#79c0ff"),
        Colour(name: "ok", light: "#1a7f37", dark: "#3fb950"),
        Colour(name: "minor", light: "#9a6700", dark: "#d29922"),
        Colour(name: "major", light: "#cf222e", dark: "#ff7b72"),
        Colour(name: "nodata", light: "#6e7781", dark: "#8b949e"),
        Colour(name: "dns", light: "#0969da", dark: "#58a6ff"),
        Colour(name: "connect", light: "#8250df", dark: "#bc8cff"),
        Colour(name: "tls", light: "#bf3989", dark: "#f778ba"),
        Colour(name: "processing", light: "#1b7c83", dark: "#39c5cf"),
        Colour(name: "transfer", light: "#953800", dark: "#f0883e"),
    ]

    /// WCAG 2 contrast ratio of two `#rrggbb` colours (1...21).
    public static func contrast(_ a: String, _ b: String) -> Double {
        let la = luminance(a), lb = luminance(b)
        return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
    }

    static func luminance(_ hex: String) -> Double {
        let digits = Array(hex.dropFirst())
        func channel(_ i: Int) -> Double {
            let v = Double(Int(String(digits[i...i + 1]), radix: 16) ?? 0) / 255
            return v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    }

    /// The style sheet: custom properties for both palettes, layout, tables, charts.
    public static let css: String = {
        let light = colours.map { "--\($0.name):\($0.light);" }.joined()
        let dark = colours.map { "--\($0.name):\($0.dark);" }.joined()
        let fills = colours.map { ".f-\($0.name){fill:var(--\($0.name))}.s-\($0.name){stroke:var(--\($0.name))}" }.joined()
        return """
            :root{color-scheme:light dark;--bg:\(lightBackground);--rule:#d1d9e0;\(light)}
            @media (prefers-color-scheme:dark){:root{--bg:\(darkBackground);--rule:#3d444d;\(dark)}}
            *{box-sizing:border-box}
            body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
            a{color:var(--link)}
            header.top{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;align-items:baseline;padding:.6rem 1rem;border-bottom:1px solid var(--rule)}
            header.top .brand{font-weight:700;color:var(--fg);text-decoration:none}
            main{padding:1rem;max-width:1200px;margin:0 auto}
            h1{font-size:1.35rem;margin:.2rem 0 .8rem}
            h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
            .muted{color:var(--muted)}.small{font-size:.8rem;word-break:break-all}
            .scroll{overflow-x:auto}td.inc{max-width:24rem}
            table.probes p{margin:0;color:var(--muted);font-size:.8rem;word-break:break-all}table.probes small{color:var(--muted);font-size:inherit}
            table.probes td:empty::after{content:"none";color:var(--muted)}
            table{border-collapse:collapse;width:100%}
            th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--rule);vertical-align:top}
            th{font-weight:600;color:var(--muted);font-size:.85rem}
            .num{text-align:right;font-variant-numeric:tabular-nums}
            .state{font-weight:600;white-space:nowrap}
            .state.healthy,.state.learning{color:var(--ok)}.state.failing,.state.major{color:var(--major)}.state.minor,.state.recovering{color:var(--minor)}
            .state.unknown{color:var(--muted)}
            form.filter{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:0 0 1rem}
            form.filter label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted)}
            select{max-width:100%}
            input,select,button{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--rule);border-radius:4px;padding:.25rem .4rem}
            .pager{display:flex;gap:1rem;margin:1rem 0}
            .ranges{display:flex;gap:.6rem;margin:.4rem 0 1rem}
            .ranges a[aria-current]{font-weight:700;color:var(--fg);text-decoration:none}
            svg.chart{display:block;width:100%;height:auto;overflow:visible}
            svg.spark{display:block;width:120px;height:28px;overflow:visible}
            svg.spark path{fill:none;stroke:var(--fg);stroke-width:1.4}svg.spark circle{fill:var(--fg)}
            svg.bars{display:block;width:269px;height:28px}svg.bars path{fill:none;stroke-dasharray:2 1}
            .uptime svg.bars{width:100%;max-width:810px;height:40px}svg.bars:focus{outline:2px solid var(--fg)}
            .u-nodata{stroke:var(--nodata);stroke-width:6}.u-healthy{stroke:var(--ok);stroke-width:28}
            .u-minor{stroke:var(--minor);stroke-width:22}.u-major{stroke:var(--major);stroke-width:12}
            svg text{fill:var(--muted);font-size:11px}
            svg .grid{stroke:var(--rule);stroke-width:1}
            svg .line{fill:none;stroke:var(--fg);stroke-width:1.6}
            svg .line.p95{stroke-dasharray:6 3}svg .line.p99{stroke-dasharray:2 3}svg .line.loc{stroke-dasharray:8 2 2 2;stroke-width:1.2}
            svg .band{fill-opacity:.18}
            svg g.day:focus{outline:2px solid var(--fg)}
            .legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;font-size:.85rem;margin:.3rem 0}
            .swatch{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:-.05em}
            .incident-open{border-left:4px solid var(--major);padding-left:.6rem}
            pre{white-space:pre-wrap;word-break:break-word;font-size:.85rem;margin:.3rem 0}
            .timeline li{margin:0 0 1rem}
            dl.settings{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
            dl.settings dt{color:var(--muted)}dl.settings dd{margin:0;word-break:break-all}
            @media (max-width:700px){.wide{display:none}main{padding:.6rem}td,th{padding:.3rem .25rem}
            table.probes thead{display:none}table.probes tr{display:block;border-bottom:1px solid var(--rule);padding:.4rem 0}
            table.probes td{display:inline-block;border:0;vertical-align:middle}table.probes td.inc{display:block;max-width:none}table.probes p,table.probes td:nth-child(4){display:none}}
            \(fills)
            """
    }()
}
