//! The README's promises about files: every example file it names exists in
//! `examples/`, and it says how to put atp-run on PATH.

use std::path::Path;

#[test]
fn every_example_file_the_readme_names_exists() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let mut named = Vec::new();
    for word in readme.split(|c: char| c.is_whitespace() || "`()<>|,".contains(c)) {
        if let Some(name) = word.strip_suffix(".txt") {
            named.push(format!("{name}.txt"));
        }
    }
    assert!(!named.is_empty(), "the README names no example file");
    for name in named {
        assert!(
            name.starts_with("examples/") && Path::new(&name).is_file(),
            "the README names {name}, which is not a file in examples/"
        );
    }
    assert!(readme.contains("cargo install --path ."));
}
