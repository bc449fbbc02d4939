import Foundation
import ProberConfig

/// libFuzzer's entry point: the bytes as one probe file, loaded as `prober check` loads it.
///
/// Every outcome is fine but a crash, a hang, a leak or unbounded memory (libFuzzer's `-timeout` and
/// `-rss_limit_mb` catch the last two). The loader reads files, so the bytes go through one file per process.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProbeFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = FileManager.default.createFile(atPath: FuzzInput.path, contents: Data(bytes: data, count: size))
    _ = try? ProbeLoader.load(directory: FuzzInput.path, environment: ["TOKEN": "fuzz-token", "HOST": "127.0.0.1"])
    return 0
}

enum FuzzInput {
    /// A `.yaml` name, so the loader takes it as a probe file.
    static let path = NSTemporaryDirectory() + "prober-fuzz-\(getpid()).yaml"
}

#if FUZZING
/// SwiftPM links an executable's entry point as `ProberFuzz_main`: hand it to libFuzzer's driver, which parses
/// libFuzzer's flags and calls `fuzzProbeFile` with each input.
@_cdecl("ProberFuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzProbeFile)
}

/// libFuzzer's driver (compiler-rt, `FuzzerInterface.h`).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32
#else
/// Built without libFuzzer (`swift build`): loads each file named on the command line once, to replay a crash
/// that `make fuzz` saved (`.build/debug/ProberFuzz crash-…`). With libFuzzer, its own `main` runs instead.
@main
enum Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data()) + [0] // + [0]: a base address even when empty
            _ = bytes.withUnsafeBufferPointer { fuzzProbeFile($0.baseAddress!, $0.count - 1) }
            print("loaded \(path)")
        }
    }
}
#endif
