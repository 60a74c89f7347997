// SPDX-License-Identifier: Apache-2.0 OR MIT
//! The README's policy example is the `policy` module's doctest, word for word.

#[test]
fn readme_example_is_the_policy_doctest() {
    let readme = include_str!("../README.md");
    let src = include_str!("../src/policy.rs");
    let doc: String = src
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .fold(String::new(), |acc, l| acc + l + "\n");
    let code = |text: &str, fence: &str| -> String {
        let start = text.find(fence).expect("fence") + fence.len();
        let end = start + text[start..].find("```").expect("closing fence");
        text[start..end].to_string()
    };
    let section = &readme[readme.find("## Trapped MSR policy").expect("section")..];
    assert_eq!(code(section, "```rust\n"), code(&doc, "```\n"));
}
