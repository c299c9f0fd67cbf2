//! Every `synapsed ...` command shown in the README and the docs parses with
//! the current CLI (code blocks and inline code; templates with `[`, `|` or
//! `...` are skipped).

use clap::Parser;

use crate::cli::Cli;

const DOCS: &[(&str, &str)] = &[
    ("README.md", include_str!("../../../README.md")),
    (
        "docs/operations.md",
        include_str!("../../../docs/operations.md"),
    ),
    (
        "docs/architecture.md",
        include_str!("../../../docs/architecture.md"),
    ),
    (
        "houdini-plugin/README.md",
        include_str!("../../../houdini-plugin/README.md"),
    ),
];

/// Split like a shell for the simple cases the docs use (quotes, no escapes).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

/// The `synapsed ...` commands in a markdown text.
fn commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_block = false;
    // ```text blocks show output, not commands.
    let mut output_block = false;
    for line in text.lines() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            in_block = !in_block;
            output_block = in_block && info.trim() == "text";
            continue;
        }
        if in_block && output_block {
            continue;
        }
        if in_block {
            let l = line.split(" #").next().unwrap_or("").trim();
            let l = l.strip_prefix("$ ").unwrap_or(l);
            let l = l.strip_prefix("target/release/").unwrap_or(l);
            if l.starts_with("synapsed ") {
                found.push(l.to_owned());
            }
        } else {
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 1 && span.starts_with("synapsed ") {
                    found.push(span.to_owned());
                }
            }
        }
    }
    found
        .into_iter()
        .filter(|c| {
            !c.contains('[')
                && !c.contains('|')
                && !c.contains("...")
                && !c.contains('<')
                && !c.contains('…')
        })
        .collect()
}

#[test]
fn every_documented_command_parses() {
    let mut checked = 0;
    for (file, text) in DOCS {
        for cmd in commands(text) {
            // Shell syntax after the command is not the CLI's business.
            let argv: Vec<String> = words(&cmd)
                .into_iter()
                .take_while(|w| !matches!(w.as_str(), "&" | "&&" | ";" | ">" | "2>" | "<"))
                // Placeholders (`N`, `SECS`, `TURN_ID`, `PATH`) stand for a value.
                .map(|w| {
                    if !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                        "1".to_owned()
                    } else {
                        w
                    }
                })
                .collect();
            match Cli::try_parse_from(&argv) {
                Ok(_) => {}
                // A command group named in prose (`synapsed auth`).
                Err(e)
                    if e.kind()
                        == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {}
                // A command named in prose without its arguments (`synapsed ask`).
                Err(e)
                    if e.kind() == clap::error::ErrorKind::MissingRequiredArgument
                        && !cmd.contains(" -") => {}
                Err(e) => panic!("{file}: `{cmd}` does not parse:\n{e}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} commands found");
}

#[test]
fn the_extractor_sees_blocks_and_inline_code() {
    let md = "Run `synapsed auth login --file` or `synapsed setup houdini [--dry-run]`.\n```sh\ntarget/release/synapsed ask \"What is on /stage?\"   # streams\n```\n";
    assert_eq!(
        commands(md),
        [
            "synapsed auth login --file",
            "synapsed ask \"What is on /stage?\""
        ]
    );
    assert_eq!(
        words("synapsed ask \"a b\" --json"),
        ["synapsed", "ask", "a b", "--json"]
    );
}
