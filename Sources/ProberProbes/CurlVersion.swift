import CCurl

/// The libcurl prober runs on, as the library reports it at run time (`7.88.1`), which can differ from the
/// headers it was built against. https://curl.se/libcurl/c/curl_version_info.html
public func libcurlVersion() -> String {
    // CURLVERSION_FIRST: `version` is in every age of the struct, so no newer age needs to be asked for.
    guard let info = curl_version_info(CURLVERSION_FIRST), let version = info.pointee.version else { return "unknown" }
    return String(cString: version)
}
