//! The seams this crate promises (ARCHITECTURE.md): models describe the math through
//! `nomoat_backend` only, so nothing here can name a thread pool, a weight layout or a SIMD level,
//! and each architecture is one file registered by name.

use std::path::Path;

fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn models_see_the_backend_seam_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("nomoat-kernels"),
        "nomoat-models must reach kernels only through nomoat-backend"
    );
    for (path, text) in sources(&root.join("src")) {
        for word in [
            "nomoat_kernels",
            "ThreadPool",
            "PackedMatrix",
            "Avx2",
            "Avx512",
        ] {
            assert!(!text.contains(word), "{path} names `{word}`");
        }
    }
}

#[test]
fn every_architecture_is_registered_under_its_file_name() {
    let names: Vec<&str> = nomoat_models::Arch::names().collect();
    assert!(names.len() >= 4, "{names:?}");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for name in names {
        assert!(
            src.join(format!("{name}.rs")).exists(),
            "architecture `{name}` has no file src/{name}.rs"
        );
        let arch = nomoat_models::Arch::from_name(name).unwrap();
        assert_eq!(arch.name(), name);
    }
}
