//! The top-level modules of the compiler (`choreo-lang`), the runtime
//! (`choreo-runtime`), the protocols (`aura-protocols`) and the node
//! binary's library (`aura-node`) form a DAG: no
//! module reaches back into one that (directly or through others) depends
//! on it.
//!
//! A module's dependencies are the crate-root paths its files name
//! anywhere in code, tests included (a test module is part of its module):
//! `crate::m`, each top-level name of `crate::{m, n::X}`, `super::…` that
//! climbs to the crate root, `$crate::…` in macros, and names the crate
//! root re-exports (`crate::Session` depends on the module `Session` is
//! re-exported from). Comments, doc links and string literals are not
//! code and do not count.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// Module name → the top-level modules it depends on.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for the crate root) and
/// how deep in the module tree the file's own module sits (`lib.rs` 0,
/// `a.rs` and `a/mod.rs` 1, `a/b.rs` 2).
fn place(src: &Path, file: &Path) -> (Option<String>, usize) {
    let rel = file.strip_prefix(src).unwrap();
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.last().unwrap();
    if parts.len() == 1 && (last == "lib.rs" || last == "main.rs") {
        return (None, 0);
    }
    let depth = if last == "mod.rs" {
        parts.len() - 1
    } else {
        parts.len()
    };
    let top = parts[0].trim_end_matches(".rs").to_string();
    (Some(top), depth)
}

fn is_punct(t: Option<&TokenTree>, ch: char) -> bool {
    matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ch)
}

fn is_ident(t: Option<&TokenTree>, name: &str) -> bool {
    matches!(t, Some(TokenTree::Ident(i)) if i == name)
}

/// `::` at `tokens[i..]`.
fn path_sep(tokens: &[TokenTree], i: usize) -> bool {
    is_punct(tokens.get(i), ':') && is_punct(tokens.get(i + 1), ':')
}

/// The first name of every item in a `{a, b::c, d as e}` use group.
fn group_heads(group: &TokenStream, out: &mut BTreeSet<String>) {
    let mut at_start = true;
    for t in group.clone() {
        match &t {
            TokenTree::Punct(p) if p.as_char() == ',' => at_start = true,
            TokenTree::Ident(i) if at_start => {
                out.insert(i.to_string());
                at_start = false;
            }
            _ => at_start = false,
        }
    }
}

/// Names of the crate root that a token stream refers to; `depth` is how
/// deep its module sits (`super` repeated `depth` times is the root).
fn root_names(stream: TokenStream, depth: usize, out: &mut BTreeSet<String>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        // `mod name { … }`: one level deeper.
        if is_ident(tokens.get(i), "mod") {
            if let (Some(TokenTree::Ident(_)), Some(TokenTree::Group(g))) =
                (tokens.get(i + 1), tokens.get(i + 2))
            {
                if g.delimiter() == Delimiter::Brace {
                    root_names(g.stream(), depth + 1, out);
                    i += 3;
                    continue;
                }
            }
        }
        // `crate::` (or `$crate::`), or `super::` climbing to the root.
        let mut after = None;
        if is_ident(tokens.get(i), "crate") && path_sep(&tokens, i + 1) {
            after = Some(i + 3);
        } else if is_ident(tokens.get(i), "super") {
            let mut j = i;
            let mut climbs = 0;
            while is_ident(tokens.get(j), "super") && path_sep(&tokens, j + 1) {
                climbs += 1;
                j += 3;
            }
            if climbs == depth {
                after = Some(j);
            }
            if climbs > 0 {
                // Skip the whole `super::super::` chain either way.
                if after.is_none() {
                    i = j;
                    continue;
                }
            }
        }
        if let Some(k) = after {
            match tokens.get(k) {
                Some(TokenTree::Ident(name)) => {
                    out.insert(name.to_string());
                }
                Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                    group_heads(&g.stream(), out);
                }
                _ => {}
            }
            i = k;
            continue;
        }
        if let TokenTree::Group(g) = &tokens[i] {
            root_names(g.stream(), depth, out);
        }
        i += 1;
    }
}

/// Names the crate root re-exports (`pub use m::{A, b::C as D};` makes
/// `A` and `D` stand for module `m`), for the modules in `modules`.
fn root_reexports(root: TokenStream, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let tokens: Vec<TokenTree> = root.into_iter().collect();
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < tokens.len() {
        if !is_ident(tokens.get(i), "use") {
            i += 1;
            continue;
        }
        let end = (i..tokens.len())
            .find(|&j| is_punct(tokens.get(j), ';'))
            .unwrap_or(tokens.len());
        let mut item: Vec<TokenTree> = tokens[i + 1..end].to_vec();
        if is_punct(item.first(), ':') {
            item.drain(..2);
        }
        if is_ident(item.first(), "crate") {
            item.drain(..3);
        }
        if let Some(TokenTree::Ident(m)) = item.first() {
            let m = m.to_string();
            if modules.contains(&m) {
                let mut leaves = BTreeSet::new();
                leaf_names(item[1..].iter().cloned().collect(), &mut leaves);
                for leaf in leaves {
                    out.insert(leaf, m.clone());
                }
            }
        }
        i = end + 1;
    }
    out
}

/// The names a use tree binds: the last segment of each path, or the
/// name after `as`.
fn leaf_names(tree: TokenStream, out: &mut BTreeSet<String>) {
    let tokens: Vec<TokenTree> = tree.into_iter().collect();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            TokenTree::Group(g) => leaf_names(g.stream(), out),
            TokenTree::Ident(name) => {
                let renamed = is_ident(tokens.get(i + 1), "as");
                let continues = path_sep(&tokens, i + 1);
                if !renamed && !continues && name != "as" && name != "self" {
                    out.insert(name.to_string());
                }
            }
            _ => {}
        }
    }
}

/// The dependency graph of the top-level modules of the crate in `src`.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().filter_map(|f| place(src, f).0).collect();
    let parse = |file: &Path| {
        let text = std::fs::read_to_string(file).unwrap();
        TokenStream::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not tokenize: {e}", file.display()))
    };
    let mut reexports = BTreeMap::new();
    for file in &files {
        if place(src, file).0.is_none() {
            reexports.extend(root_reexports(parse(file), &modules));
        }
    }
    let mut graph = Graph::new();
    for file in &files {
        let (Some(from), depth) = place(src, file) else {
            continue;
        };
        let mut names = BTreeSet::new();
        root_names(parse(file), depth, &mut names);
        let deps = graph.entry(from.clone()).or_default();
        for name in names {
            let to = if modules.contains(&name) {
                Some(&name)
            } else {
                reexports.get(&name)
            };
            if let Some(to) = to {
                if *to != from {
                    deps.insert(to.clone());
                }
            }
        }
    }
    graph
}

/// Every cycle a depth-first search meets (each as `a -> b -> a`).
fn cycles(graph: &Graph) -> Vec<String> {
    fn visit(
        m: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            found.push(format!("{} -> {m}", path[at..].join(" -> ")));
            return;
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn assert_acyclic(crate_name: &str, src: &str, must_see: (&str, &str)) {
    let graph = module_graph(&workspace().join(src));
    let (from, to) = must_see;
    assert!(
        graph.get(from).is_some_and(|d| d.contains(to)),
        "{crate_name}: the scan did not see {from} -> {to}; graph: {graph:#?}"
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "{crate_name}: import cycles between top-level modules:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn compiler_modules_have_no_import_cycle() {
    assert_acyclic("choreo-lang", "choreo-lang/src", ("codegen", "machine"));
}

#[test]
fn runtime_modules_have_no_import_cycle() {
    assert_acyclic("choreo-runtime", "runtime/src", ("session", "ops"));
}

#[test]
fn protocol_modules_have_no_import_cycle() {
    assert_acyclic("aura-protocols", "protocols/src", ("witness", "reshare"));
}

/// The scanner itself: a cycle hidden in a use group, a `super::` path and
/// a root re-export is found; comments and strings are not code.
#[test]
fn node_modules_have_no_import_cycle() {
    assert_acyclic("aura-node", "protocols/node/src", ("cli", "sim"));
}

#[test]
fn cycles_through_groups_super_paths_and_reexports_are_found() {
    let dir = std::env::temp_dir().join(format!("choreo-import-cycles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "lib.rs",
        "mod a;\nmod b;\nmod c;\nmod d;\npub use d::{Thing, other::Renamed as Alias};\n",
    );
    write(
        "a.rs",
        "use crate::{c::X, b};\n// crate::d in a comment\nconst S: &str = \"crate::d\";\n",
    );
    write("b/mod.rs", "mod inner;\n");
    write("b/inner.rs", "fn f() { super::super::Alias::g() }\n");
    write(
        "c.rs",
        "mod tests { use super::*; fn t() { super::super::a::h() } }\n",
    );
    write("d.rs", "pub struct Thing;\n");
    let graph = module_graph(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let deps = |m: &str| graph.get(m).cloned().unwrap_or_default();
    assert_eq!(deps("a"), ["b", "c"].map(String::from).into());
    assert_eq!(deps("b"), ["d"].map(String::from).into());
    assert_eq!(deps("c"), ["a"].map(String::from).into());
    assert_eq!(cycles(&graph), vec!["a -> c -> a".to_string()]);
}
