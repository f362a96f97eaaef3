//! The versions of burn and polars this build links (from the workspace's `Cargo.lock`), for model
//! cards and bundles: `KILN_BURN_VERSION`, `KILN_POLARS_VERSION` ("unknown" without a lock file).

fn main() {
    let lock = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    for (krate, var) in [
        ("burn", "KILN_BURN_VERSION"),
        ("polars", "KILN_POLARS_VERSION"),
    ] {
        let needle = format!("name = \"{krate}\"\nversion = \"");
        let version = text
            .find(&needle)
            .and_then(|i| text[i + needle.len()..].split('"').next())
            .unwrap_or("unknown");
        println!("cargo:rustc-env={var}={version}");
    }
}
